/**
 * Invariant 6: bad input gets a documented 4xx problem+json, never a 5xx, never a stack trace.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  createUsers,
  JWT_SECRET,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';

describe('bad input never hurts', () => {
  let db: TestDatabase;
  let server: TestServer;
  let user: TestUser;
  let couponId: string;

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    server = await startTestServer(db, { bodyLimit: 4096 });
    [user] = await createUsers(server.url, 1);
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/v1/admin/coupons',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { name: 'ok', discount: { type: 'AMOUNT', value: 1 }, quantity: 10 },
    });
    couponId = res.json().id;
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  type Case = {
    name: string;
    method?: 'GET' | 'POST';
    url: string;
    auth?: 'admin' | 'user' | string | null;
    body?: unknown;
    raw?: string;
    contentType?: string;
    status: number;
    code: string;
  };

  const coupon = (over: Record<string, unknown>) => ({
    name: 'c',
    discount: { type: 'AMOUNT', value: 10 },
    quantity: 5,
    ...over,
  });

  const cases: Case[] = [
    {
      name: 'quantity as a string',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: 'ten' }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'quantity as a numeric string (bodies are not coerced)',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: '100' }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'quantity as an array',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: [5] }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'points amount as a string',
      url: '/api/v1/me/points/charge',
      auth: 'user',
      body: { amount: '1000' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'negative quantity',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: -1 }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'zero quantity',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: 0 }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'huge quantity',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: 1e30 }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'fractional quantity',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ quantity: 1.5 }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'missing name',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: { discount: { type: 'AMOUNT', value: 1 }, quantity: 1 },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'unknown discount type',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ discount: { type: 'FREE', value: 1 } }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'percent above 100',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ discount: { type: 'PERCENT', value: 150 } }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'unparseable startsAt',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ startsAt: 'tomorrow' }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'endsAt before startsAt',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ startsAt: '2030-01-02T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'extra property',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: coupon({ hack: true }),
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'body is an array',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      body: [1, 2],
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'malformed JSON',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      raw: '{"name": ',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'wrong content type',
      url: '/api/v1/admin/coupons',
      auth: 'admin',
      raw: 'name=x',
      contentType: 'application/x-www-form-urlencoded',
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    },
    {
      name: 'body over the limit',
      url: '/api/v1/users',
      raw: JSON.stringify({ name: 'x'.repeat(10_000) }),
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
    {
      name: 'empty user name',
      url: '/api/v1/users',
      body: { name: '' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'blank user name',
      url: '/api/v1/users',
      body: { name: '   ' },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'user name too long',
      url: '/api/v1/users',
      body: { name: 'x'.repeat(101) },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'bulk count 0',
      url: '/api/v1/admin/users/bulk',
      auth: 'admin',
      body: { count: 0 },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'bulk count too large',
      url: '/api/v1/admin/users/bulk',
      auth: 'admin',
      body: { count: 10_001 },
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'admin route without token',
      url: '/api/v1/admin/coupons',
      auth: null,
      body: coupon({}),
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'admin route with a user token',
      url: '/api/v1/admin/coupons',
      auth: 'user',
      body: coupon({}),
      status: 403,
      code: 'FORBIDDEN',
    },
    {
      name: 'admin route with a wrong token',
      url: '/api/v1/admin/users/bulk',
      auth: 'not-the-admin-token',
      body: { count: 1 },
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'issue without token',
      url: '/api/v1/coupons/1/issue',
      auth: null,
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'issue with garbage token',
      url: '/api/v1/coupons/1/issue',
      auth: 'abc.def.ghi',
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'issue with the admin token',
      url: '/api/v1/coupons/1/issue',
      auth: 'admin',
      status: 403,
      code: 'FORBIDDEN',
    },
    {
      name: 'issue unknown coupon',
      url: '/api/v1/coupons/99999/issue',
      auth: 'user',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'issue non-numeric coupon id',
      url: '/api/v1/coupons/abc/issue',
      auth: 'user',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'issue absurd coupon id',
      url: `/api/v1/coupons/${'9'.repeat(30)}/issue`,
      auth: 'user',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'read unknown coupon',
      method: 'GET',
      url: '/api/v1/coupons/424242',
      status: 404,
      code: 'NOT_FOUND',
    },
    { name: 'me without token', method: 'GET', url: '/api/v1/me', status: 401, code: 'UNAUTHENTICATED' },
    { name: 'unknown route', method: 'GET', url: '/api/v1/nope', status: 404, code: 'NOT_FOUND' },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const headers: Record<string, string> = {};
      const token = c.auth === 'admin' ? ADMIN_TOKEN : c.auth === 'user' ? user.token : c.auth;
      if (token) headers.authorization = `Bearer ${token}`;
      if (c.body !== undefined || c.raw !== undefined)
        headers['content-type'] = c.contentType ?? 'application/json';
      const res = await server.app.inject({
        method: c.method ?? 'POST',
        url: c.url,
        headers,
        payload: c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body)),
      });
      expect(res.statusCode, res.body).toBe(c.status);
      expect(res.headers['content-type']).toContain('application/problem+json');
      const body = res.json();
      expect(body).toMatchObject({ status: c.status, code: c.code });
      expect(typeof body.type).toBe('string');
      expect(typeof body.title).toBe('string');
      expect(typeof body.detail).toBe('string');
      expect(res.body).not.toMatch(/at .*\.(js|ts):\d+/); // no stack traces
    });
  }

  it('rejects an expired token and a token signed with another secret', async () => {
    const key = new TextEncoder().encode(JWT_SECRET);
    const expired = await new SignJWT({ name: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer('stampede')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(key);
    const forged = await new SignJWT({ name: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuer('stampede')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-another-secret'));
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"sub":"${user.id}"}`).toString('base64url')}.`;
    for (const token of [expired, forged, none]) {
      const res = await server.app.inject({
        method: 'POST',
        url: `/api/v1/coupons/${couponId}/issue`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().code).toBe('UNAUTHENTICATED');
    }
  });

  it('leaves nothing half-written after rejected creates', async () => {
    const before = await server.runtime.infra.postgres().query('SELECT count(*)::int AS n FROM coupons');
    await server.app.inject({
      method: 'POST',
      url: '/api/v1/admin/coupons',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      payload: JSON.stringify(coupon({ quantity: -5 })),
    });
    const after = await server.runtime.infra.postgres().query('SELECT count(*)::int AS n FROM coupons');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('serves the OpenAPI document with every v1 route', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    for (const p of [
      '/api/v1/users',
      '/api/v1/admin/users/bulk',
      '/api/v1/me',
      '/api/v1/admin/coupons',
      '/api/v1/coupons/{couponId}',
      '/api/v1/coupons/{couponId}/issue',
      '/api/v1/me/coupons',
    ]) {
      expect(paths).toContain(p);
    }
  });

  it('exposes metrics and health', async () => {
    expect((await server.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ready');
    const metrics = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('http_request_duration_seconds_bucket');
    expect(metrics.body).toContain('stampede_breaker_state');
  });
});
