/**
 * The admin lists, GET /api/v1/admin/coupons and GET /api/v1/admin/waiting-rooms: admin token only
 * (401 without one, 403 with a user's), pages in id order that cover everything once, and
 * problem+json 400s for a limit or a cursor out of bounds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../support/harness.js';

let db: TestDatabase;
let server: TestServer;
let userToken: string;

// biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
async function call(method: 'GET' | 'POST', url: string, token?: string, body?: unknown): Promise<any> {
  const res = await server.app.inject({
    method,
    url,
    payload: body as object | undefined,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.statusCode, type: res.headers['content-type'], body: res.json() };
}

beforeAll(async () => {
  db = await createDatabaseFor('embedded');
  server = await startTestServer(db);
  userToken = (await call('POST', '/api/v1/users', undefined, { name: 'ann' })).body.token;
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** Every item of the list, page by page with `limit`, and how many pages it took. */
async function walk(path: string, limit: number): Promise<{ items: { id: string }[]; pages: number }> {
  const items: { id: string }[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const res = await call('GET', `${path}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, ADMIN_TOKEN);
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    pages++;
  } while (cursor);
  return { items, pages };
}

describe('GET /api/v1/admin/coupons', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (let i = 1; i <= 5; i++) {
      const res = await call('POST', '/api/v1/admin/coupons', ADMIN_TOKEN, {
        name: `drop ${i}`,
        discount: { type: 'AMOUNT', value: 100 * i },
        quantity: 10 * i,
        ...(i === 5 ? { endsAt: '2099-01-01T00:00:00Z' } : {}),
      });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    const one = await call('POST', `/api/v1/coupons/${ids[0]}/issue`, userToken);
    expect(one.status).toBe(201);
  });

  it('lists every coupon once, in id order, two at a time', async () => {
    const { items, pages } = await walk('/api/v1/admin/coupons', 2);
    expect(items.map((c) => c.id)).toEqual(ids);
    expect(pages).toBe(3);
  });

  it('shows each drop with what is left and when it was created', async () => {
    const res = await call('GET', '/api/v1/admin/coupons?limit=100', ADMIN_TOKEN);
    expect(res.body.nextCursor).toBeUndefined();
    const [first, , , , last] = res.body.items;
    expect(first).toEqual({
      id: ids[0],
      name: 'drop 1',
      discount: { type: 'AMOUNT', value: 100 },
      quantity: 10,
      remaining: 9,
      startsAt: expect.any(String),
      endsAt: null,
      validDays: null,
      waitingRoomId: null,
      createdAt: expect.any(String),
      runTag: null,
    });
    expect(Date.parse(first.createdAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(last).toMatchObject({ remaining: 50, endsAt: '2099-01-01T00:00:00.000Z' });
  });

  it('defaults to 20 per page', async () => {
    const res = await call('GET', '/api/v1/admin/coupons', ADMIN_TOKEN);
    expect(res.body.items).toHaveLength(5);
  });
});

describe('GET /api/v1/admin/waiting-rooms', () => {
  const ids: string[] = [];
  beforeAll(async () => {
    for (let i = 1; i <= 3; i++) {
      const res = await call('POST', '/api/v1/admin/waiting-rooms', ADMIN_TOKEN, {
        name: `line ${i}`,
        maxActive: i,
        ...(i === 3 ? { opensAt: '2099-01-01T00:00:00Z' } : {}),
      });
      expect(res.status).toBe(201);
      ids.push(res.body.id);
    }
    expect((await call('POST', `/api/v1/waiting-rooms/${ids[2]}/entries`, userToken)).status).toBe(201);
  });

  it('lists every room once, in id order, one at a time', async () => {
    const { items, pages } = await walk('/api/v1/admin/waiting-rooms', 1);
    expect(items.map((r) => r.id)).toEqual(ids);
    expect(pages).toBe(3);
  });

  it('shows each room with its settings and its waiting and active counts', async () => {
    const res = await call('GET', '/api/v1/admin/waiting-rooms?limit=100', ADMIN_TOKEN);
    expect(res.body.items[0]).toEqual({
      id: ids[0],
      name: 'line 1',
      maxActive: 1,
      admitPerSecond: null,
      passTtlSeconds: 300,
      idleTimeoutSeconds: 60,
      opensAt: null,
      paused: false,
      waiting: 0,
      active: 0,
      createdAt: expect.any(String),
      runTag: null,
    });
    // The third room has not opened: its one entry waits in the pre-queue.
    expect(res.body.items[2]).toMatchObject({ opensAt: '2099-01-01T00:00:00.000Z', waiting: 1, active: 0 });
  });
});

describe.each(['/api/v1/admin/coupons', '/api/v1/admin/waiting-rooms'])('%s refusals', (path) => {
  it('401 without a token, 401 with a wrong one, 403 with a user token', async () => {
    for (const [token, status, code] of [
      [undefined, 401, 'UNAUTHENTICATED'],
      ['not-the-admin-token', 401, 'UNAUTHENTICATED'],
      [() => userToken, 403, 'FORBIDDEN'],
    ] as const) {
      const res = await call('GET', path, typeof token === 'function' ? token() : token);
      expect(res.status).toBe(status);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe(code);
    }
  });

  it.each([
    ['limit=0', 'querystring.limit'],
    ['limit=101', 'querystring.limit'],
    ['limit=abc', 'querystring.limit'],
    ['limit=-1', 'querystring.limit'],
    ['limit=1e2', 'querystring.limit'],
    ['cursor=bm90LWEtY3Vyc29y', 'querystring.cursor'],
    ['cursor=%00', 'querystring.cursor'],
  ])('400 VALIDATION_FAILED for ?%s', async (query, field) => {
    const res = await call('GET', `${path}?${query}`, ADMIN_TOKEN);
    expect(res.status).toBe(400);
    expect(res.type).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.detail).toContain(field);
  });
});
