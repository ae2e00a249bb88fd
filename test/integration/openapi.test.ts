/**
 * The served OpenAPI document describes every answer: each operation has a success answer with a
 * schema, every 4xx/5xx answer is the shared Problem (as application/problem+json) with the codes it
 * may carry listed, nothing is a "Default Response" or an anonymous `def-N` schema, every reference
 * resolves, and request bodies carry examples. And naming the schemas changed no answer: the main
 * operations still answer every field they answered before (a response schema drops what it does
 * not declare).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, type ErrorCode } from '../../src/http/errors.js';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../support/harness.js';

interface Media {
  schema?: Record<string, unknown>;
  example?: unknown;
}
interface Answer {
  description: string;
  content?: Record<string, Media>;
  headers?: Record<string, unknown>;
}
interface Operation {
  security?: Record<string, unknown>[];
  responses: Record<string, Answer>;
  requestBody?: { content: Record<string, Media> };
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

const PROBLEM_REF = '#/components/schemas/Problem';

let db: TestDatabase;
let server: TestServer;
let doc: Doc;

beforeAll(async () => {
  db = await createDatabaseFor('embedded');
  server = await startTestServer(db);
  const res = await server.app.inject({ method: 'GET', url: '/docs/json' });
  expect(res.statusCode).toBe(200);
  doc = res.json() as Doc;
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

function operations(): [string, Operation][] {
  return Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${p}`, op] as [string, Operation]),
  );
}

/**
 * A route that still declares the 4xx/5xx catch-all (ProblemResponses) instead of responses(): its
 * refusals are documented as "any problem", and it is not held to the per-operation rules below.
 */
const usesCatchAll = (op: Operation) => '4XX' in op.responses;

/** The codes a problem answer's description lists (`- \`CODE\`: when`). */
function listedCodes(answer: Answer): string[] {
  return [...answer.description.matchAll(/^- `([A-Z_]+)`:/gm)].map((m) => m[1]);
}

function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refs(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('the OpenAPI document', () => {
  it('gives every operation a success answer with a schema (204 and 304 have no body)', () => {
    const missing: string[] = [];
    for (const [name, op] of operations()) {
      const ok = Object.entries(op.responses).filter(([s]) => /^2\d\d$/.test(s));
      if (ok.length === 0) missing.push(`${name}: no 2xx`);
      for (const [status, a] of ok) {
        if (status === '204') continue;
        const schemas = Object.values(a.content ?? {}).filter((m) => m.schema);
        if (schemas.length === 0) missing.push(`${name} ${status}: no schema`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('answers every 4xx and 5xx with the Problem schema as application/problem+json, its codes listed', () => {
    const wrong: string[] = [];
    for (const [name, op] of operations()) {
      for (const [status, a] of Object.entries(op.responses)) {
        if (!/^[45]/.test(status)) continue;
        const problem = a.content?.['application/problem+json']?.schema;
        if (problem?.$ref !== PROBLEM_REF) wrong.push(`${name} ${status}: not a Problem`);
        if (/^[45]XX$/.test(status)) continue; // a route's catch-all
        const codes = listedCodes(a);
        if (codes.length === 0) wrong.push(`${name} ${status}: lists no code`);
        for (const code of codes) {
          const known = ERRORS[code as ErrorCode];
          if (!known) wrong.push(`${name} ${status}: unknown code ${code}`);
          else if (String(known.status) !== status)
            wrong.push(`${name} ${status}: ${code} is a ${known.status}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has no "Default Response", no anonymous def-N schema, and every reference resolves', () => {
    const text = JSON.stringify(doc);
    expect(text).not.toContain('Default Response');
    expect(Object.keys(doc.components.schemas).filter((n) => /^def-\d+$/.test(n))).toEqual([]);
    const unresolved = refs(doc).filter(
      (r) => !r.startsWith('#/components/schemas/') || !(r.split('/').pop()! in doc.components.schemas),
    );
    expect(unresolved).toEqual([]);
  });

  it('names the shared schemas, each with an example', () => {
    const names = Object.keys(doc.components.schemas);
    for (const n of [
      'Problem',
      'User',
      'UserWithToken',
      'Balance',
      'LedgerEntry',
      'Product',
      'ProductSummary',
      'BestSeller',
      'Coupon',
      'CouponWithRemaining',
      'CouponListItem',
      'IssuedCoupon',
      'HeldCoupon',
      'Order',
      'Notification',
      'WaitingRoom',
      'WaitingRoomStatus',
      'WaitingRoomListItem',
      'WaitingRoomEntry',
    ])
      expect(names).toContain(n);
    expect(names.filter((n) => doc.components.schemas[n].example === undefined)).toEqual([]);
  });

  it('shows an example for the body of every operation that takes a JSON body (routes declared with responses())', () => {
    const without = operations()
      .filter(([, op]) => op.requestBody && !usesCatchAll(op))
      .filter(([, op]) => op.requestBody?.content['application/json']?.example === undefined)
      .map(([name]) => name);
    expect(without).toEqual([]);
  });

  it('lists what the coupon issue can answer, status by status', () => {
    const r = doc.paths['/api/v1/coupons/{couponId}/issue'].post.responses;
    expect(Object.keys(r).sort()).toEqual(
      ['201', '400', '401', '403', '404', '409', '410', '413', '415', '429', '500', '503'].sort(),
    );
    expect(listedCodes(r['403']).sort()).toEqual(['FORBIDDEN', 'NOT_ADMITTED', 'NOT_OPEN', 'PASS_EXPIRED']);
    expect(listedCodes(r['409'])).toEqual(['ALREADY_ISSUED']);
    expect(listedCodes(r['410'])).toEqual(['SOLD_OUT']);
    expect(listedCodes(r['503']).sort()).toEqual(['OVERLOADED', 'UNAVAILABLE']);
    expect(r['503'].headers).toHaveProperty('retry-after');
    expect(r['201'].content?.['application/json'].schema?.$ref).toBe('#/components/schemas/IssuedCoupon');
  });

  it('documents 401/403 on routes that need a token only, and 429 on /api routes only', () => {
    for (const [name, op] of operations()) {
      if (op.security?.length) {
        expect(listedCodes(op.responses['401']), name).toContain('UNAUTHENTICATED');
        expect(listedCodes(op.responses['403']), name).toContain('FORBIDDEN');
      } else {
        expect(op.responses['401'], name).toBeUndefined();
      }
      if (name.includes(' /api/')) expect(listedCodes(op.responses['429']), name).toEqual(['RATE_LIMITED']);
      else expect(op.responses['429'], name).toBeUndefined();
    }
    expect(doc.paths['/api/v1/admin/coupons'].get.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths['/api/v1/products'].get.security).toBeUndefined();
  });

  it('documents /readyz 503 as either its readiness body or a Problem (the drain refusal)', () => {
    const r = doc.paths['/readyz'].get.responses['503'];
    expect(r.content?.['application/json'].schema?.$ref).toBe('#/components/schemas/Readiness');
    expect(r.content?.['application/problem+json'].schema?.$ref).toBe(PROBLEM_REF);
  });
});

describe('answers with named schemas', () => {
  const json = async (
    method: 'GET' | 'POST' | 'PATCH',
    url: string,
    opts: { token?: string; body?: unknown; status?: number } = {},
  ) => {
    const res = await server.app.inject({
      method,
      url,
      payload: opts.body as object | undefined,
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
    });
    expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(opts.status ?? 200);
    // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
    return res.json() as any;
  };
  const keys = (o: object) => Object.keys(o).sort();

  it('still carry every field they carried', async () => {
    const admin = ADMIN_TOKEN;
    const me = await json('POST', '/api/v1/users', { body: { name: 'ann' }, status: 201 });
    expect(keys(me)).toEqual(['id', 'name', 'token']);
    const bulk = await json('POST', '/api/v1/admin/users/bulk', {
      token: admin,
      body: { count: 2 },
      status: 201,
    });
    expect(keys(bulk.users[0])).toEqual(['id', 'name', 'token']);
    expect(keys(await json('GET', '/api/v1/me', { token: me.token }))).toEqual(['id', 'name']);
    expect(
      await json('POST', '/api/v1/me/points/charge', { token: me.token, body: { amount: 50_000 } }),
    ).toEqual({ balance: 50_000 });

    const product = await json('POST', '/api/v1/admin/products', {
      token: admin,
      body: { name: 'Sneaker', price: 1000, stock: 5 },
      status: 201,
    });
    expect(product).toEqual({ id: product.id, name: 'Sneaker', price: 1000, stock: 5, description: null });
    const room = await json('POST', '/api/v1/admin/waiting-rooms', {
      token: admin,
      body: { name: 'line', maxActive: 5 },
      status: 201,
    });
    const roomKeys = [
      'admitPerSecond',
      'id',
      'idleTimeoutSeconds',
      'maxActive',
      'name',
      'opensAt',
      'passTtlSeconds',
      'paused',
    ];
    expect(keys(room)).toEqual(roomKeys);
    const coupon = await json('POST', '/api/v1/admin/coupons', {
      token: admin,
      body: { name: 'ten', discount: { type: 'PERCENT', value: 10 }, quantity: 3, validDays: 7 },
      status: 201,
    });
    const couponKeys = [
      'discount',
      'endsAt',
      'id',
      'name',
      'quantity',
      'startsAt',
      'validDays',
      'waitingRoomId',
    ];
    expect(keys(coupon)).toEqual(couponKeys);
    expect(keys(await json('GET', `/api/v1/coupons/${coupon.id}`))).toEqual(
      [...couponKeys, 'remaining'].sort(),
    );
    const issued = await json('POST', `/api/v1/coupons/${coupon.id}/issue`, { token: me.token, status: 201 });
    expect(keys(issued)).toEqual(['couponId', 'expiresAt', 'status', 'userCouponId']);
    const held = await json('GET', '/api/v1/me/coupons', { token: me.token });
    expect(keys(held.items[0])).toEqual(
      ['couponId', 'discount', 'expiresAt', 'issuedAt', 'name', 'status', 'userCouponId'].sort(),
    );

    const order = await json('POST', '/api/v1/orders', {
      token: me.token,
      body: { items: [{ productId: product.id, quantity: 2 }], userCouponId: issued.userCouponId },
      status: 201,
    });
    const orderKeys = [
      'balanceAfter',
      'createdAt',
      'discount',
      'items',
      'orderId',
      'status',
      'subtotal',
      'total',
      'userCouponId',
    ];
    expect(keys(order)).toEqual(orderKeys);
    expect(keys(order.items[0])).toEqual(['lineTotal', 'name', 'productId', 'quantity', 'unitPrice']);
    expect(await json('GET', `/api/v1/orders/${order.orderId}`, { token: me.token })).toEqual(order);
    expect((await json('GET', '/api/v1/me/orders', { token: me.token })).items).toEqual([order]);
    const history = await json('GET', '/api/v1/me/points/history', { token: me.token });
    expect(keys(history.items[0])).toEqual(['amount', 'at', 'balanceAfter', 'id', 'ref', 'type']);
    expect(keys((await json('GET', '/api/v1/products?limit=1')).items[0])).toEqual([
      'id',
      'name',
      'price',
      'stock',
    ]);

    const entry = await json('POST', `/api/v1/waiting-rooms/${room.id}/entries`, {
      token: me.token,
      status: 201,
    });
    expect(keys(entry)).toEqual(['ahead', 'estimatedWaitSeconds', 'joinedAt', 'position', 'status']);
    const status = await json('GET', `/api/v1/waiting-rooms/${room.id}`);
    expect(keys(status)).toEqual([...roomKeys, 'active', 'admitRate', 'admittedTotal', 'waiting'].sort());
    expect(await json('GET', '/healthz')).toEqual({ status: 'ok' });
    expect(keys(await json('GET', '/readyz'))).toEqual(['checks', 'mode', 'status']);

    // The outbox relay writes notifications shortly after the commit.
    let notes: { items: object[] } = { items: [] };
    for (let i = 0; i < 100 && notes.items.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      notes = await json('GET', '/api/v1/me/notifications', { token: me.token });
    }
    expect(keys(notes.items[0])).toEqual(['at', 'eventId', 'id', 'kind', 'message']);
    let popular: { items: object[] } = { items: [] };
    for (let i = 0; i < 100 && popular.items.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      popular = await json('GET', '/api/v1/products/popular');
    }
    expect(popular.items).toEqual([{ productId: product.id, name: 'Sneaker', price: 1000, soldQuantity: 2 }]);
  });

  it('answer problems with exactly the five Problem fields and the problem+json type', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/api/v1/coupons/999999' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(keys(res.json())).toEqual(['code', 'detail', 'status', 'title', 'type']);
  });
});
