/**
 * Rate limits over real sockets, in both modes: per user, per client address, admin routes exempt
 * by default, loopback limited unless configured, shared by every process in cluster mode, and
 * still limited (on each process's own counts) while Redis is unreachable.
 *
 * Cluster cases skip without Redis on a laptop and fail in CI (test/support/global-setup.ts).
 * Every request comes from 127.0.0.1. The main server trusts 127.0.0.1 as a proxy, so each test
 * picks its own client address with X-Forwarded-For and starts from an empty budget.
 */
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  type Mode,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';
import { redisProxy } from '../support/redis.js';

const USER_LIMIT = 5;
const ADDRESS_LIMIT = 12;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
  body: any;
}

async function send(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  opts: { token?: string; from?: string; body?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.from) headers['x-forwarded-for'] = opts.from;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${base}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.body.text();
  const json = /json/.test(String(res.headers['content-type'])) && text;
  return { status: res.statusCode, headers: res.headers, body: json ? JSON.parse(text) : text };
}

/**
 * A server that answers (on a loaded machine the start's schema compilation can stall the event
 * loop long enough for the load shedder to answer 503 for a moment) and whose Redis client is
 * connected: until it is, every count fails and requests are let through (fail open), which would
 * make a test's budget look larger than it is.
 */
async function started(db: TestDatabase, overrides: Parameters<typeof startTestServer>[1]) {
  const server = await startTestServer(db, overrides);
  const redis = server.runtime.infra.redis();
  const deadline = Date.now() + 20_000;
  while ((redis && redis.status !== 'ready') || (await send(server.url, 'GET', '/healthz')).status !== 200) {
    if (Date.now() > deadline) {
      await server.close();
      throw new Error(`server not answering, or Redis client ${redis?.status}, after 20 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return server;
}

/** `n` requests one after the other; their statuses. */
async function statuses(n: number, one: () => Promise<Answer>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await one()).status);
  return out;
}

function expectRateLimited(res: Answer, who: 'user' | 'address', max: number) {
  expect(res.status).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toEqual({
    type: 'https://stampede.dev/problems/rate-limited',
    title: 'Too many requests',
    status: 429,
    detail: expect.stringContaining(`more than ${max} requests a minute from this ${who}`),
    code: 'RATE_LIMITED',
  });
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
}

const ok = (n: number) => Array.from({ length: n }, () => 200);

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`rate limits (${mode})`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let users: TestUser[];
    const limits = {
      rateLimitUserPerMinute: USER_LIMIT,
      rateLimitIpPerMinute: ADDRESS_LIMIT,
      rateLimitTrustedProxies: ['127.0.0.1'],
    };

    beforeAll(async () => {
      db = await createDatabaseFor(mode);
      server = await started(db, limits);
      users = await createUsers(server.url, 20);
    });
    afterAll(async () => {
      await server?.close();
      await db?.drop();
    });

    it('refuses a user over the per-user limit with 429 RATE_LIMITED problem+json and Retry-After', async () => {
      const [u] = users;
      const me = () => send(server.url, 'GET', '/api/v1/me', { token: u.token, from: '203.0.113.1' });
      expect(await statuses(USER_LIMIT, me)).toEqual(ok(USER_LIMIT));
      expectRateLimited(await me(), 'user', USER_LIMIT);
      // The budget is the user's, wherever the user comes from.
      const elsewhere = await send(server.url, 'GET', '/api/v1/me', { token: u.token, from: '203.0.113.99' });
      expectRateLimited(elsewhere, 'user', USER_LIMIT);
    });

    it("does not charge another user from the same address for the first user's requests", async () => {
      const [, a, b] = users;
      const from = '203.0.113.2';
      const meA = () => send(server.url, 'GET', '/api/v1/me', { token: a.token, from });
      expect(await statuses(USER_LIMIT, meA)).toEqual(ok(USER_LIMIT));
      expect((await meA()).status).toBe(429);
      const meB = await send(server.url, 'GET', '/api/v1/me', { token: b.token, from });
      expect(meB.status).toBe(200);
      expect(meB.body.id).toBe(b.id);
    });

    it('applies the per-address limit across users and to public routes', async () => {
      const from = '203.0.113.3';
      const crowd = users.slice(3, 6);
      for (const u of crowd) {
        const me = () => send(server.url, 'GET', '/api/v1/me', { token: u.token, from });
        expect(await statuses(ADDRESS_LIMIT / crowd.length, me)).toEqual(ok(ADDRESS_LIMIT / crowd.length));
      }
      const fresh = await send(server.url, 'GET', '/api/v1/me', { token: users[6].token, from });
      expectRateLimited(fresh, 'address', ADDRESS_LIMIT);
      expectRateLimited(
        await send(server.url, 'GET', '/api/v1/products', { from }),
        'address',
        ADDRESS_LIMIT,
      );
      // Another address is untouched.
      expect((await send(server.url, 'GET', '/api/v1/products', { from: '203.0.113.33' })).status).toBe(200);
    });

    it('limits an anonymous client on public routes by its address', async () => {
      const products = () => send(server.url, 'GET', '/api/v1/products', { from: '2001:db8::7' });
      expect(await statuses(ADDRESS_LIMIT, products)).toEqual(ok(ADDRESS_LIMIT));
      expectRateLimited(await products(), 'address', ADDRESS_LIMIT);
      // IPv6 clients are counted by /64: the same network, another host, shares the budget.
      const sibling = await send(server.url, 'GET', '/api/v1/products', { from: '2001:db8::8' });
      expectRateLimited(sibling, 'address', ADDRESS_LIMIT);
    });

    it('exempts admin routes by default, and never limits /healthz, /readyz or /metrics', async () => {
      const from = '203.0.113.4';
      const bulk = () =>
        send(server.url, 'POST', '/api/v1/admin/users/bulk', {
          token: ADMIN_TOKEN,
          from,
          body: { count: 1 },
        });
      expect(await statuses(ADDRESS_LIMIT + 3, bulk)).toEqual(
        Array.from({ length: ADDRESS_LIMIT + 3 }, () => 201),
      );
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        expect(await statuses(ADDRESS_LIMIT + 1, () => send(server.url, 'GET', path, { from }))).toEqual(
          ok(ADDRESS_LIMIT + 1),
        );
      }
      // None of it was charged to the address.
      expect(
        await statuses(ADDRESS_LIMIT, () => send(server.url, 'GET', '/api/v1/products', { from })),
      ).toEqual(ok(ADDRESS_LIMIT));
    });

    describe('configured otherwise', () => {
      // Each its own server, sharing the database (and in cluster mode the Redis prefix) with the
      // main one; their clients are 127.0.0.1 itself, which no other test is counted as.
      it('limits loopback like any other client, ignores X-Forwarded-For from an untrusted peer, and limits admin routes when told', async () => {
        const strict = await started(db, {
          rateLimitUserPerMinute: USER_LIMIT,
          rateLimitIpPerMinute: 3,
          rateLimitExemptAdmin: false,
        });
        try {
          const forged = (i: number) => () =>
            send(strict.url, 'POST', '/api/v1/admin/users/bulk', {
              token: ADMIN_TOKEN,
              from: `198.51.100.${i}`,
              body: { count: 1 },
            });
          expect((await forged(1)()).status).toBe(201);
          expect((await forged(2)()).status).toBe(201);
          expect((await forged(3)()).status).toBe(201);
          expectRateLimited(await forged(4)(), 'address', 3);
          expectRateLimited(await send(strict.url, 'GET', '/api/v1/products'), 'address', 3);
        } finally {
          await strict.close();
        }
      });

      it('does not limit loopback clients with RATE_LIMIT_ALLOW_LOOPBACK, nor anyone with RATE_LIMIT_ENABLED=false', async () => {
        for (const overrides of [
          { rateLimitUserPerMinute: 1, rateLimitIpPerMinute: 1, rateLimitAllowLoopback: true },
          { rateLimitUserPerMinute: 1, rateLimitIpPerMinute: 1, rateLimitEnabled: false },
        ]) {
          const open = await started(db, overrides);
          try {
            const me = () => send(open.url, 'GET', '/api/v1/me', { token: users[7].token });
            expect(await statuses(10, me), JSON.stringify(overrides)).toEqual(ok(10));
          } finally {
            await open.close();
          }
        }
      });
    });

    describe.runIf(mode === 'cluster')('several processes', () => {
      // Counters are shared every 100 ms (src/http/rate-limit-store.ts): between two phases the
      // test waits for a share. A process that has not seen a key since the last share judges
      // its next request on what it knew: the documented bound lets that one through.
      const shared = () => new Promise((r) => setTimeout(r, 400));
      /** Refused now, or after at most one more request and a share; how many requests it took. */
      const refusedWithin = async (call: () => Promise<Answer>, who: 'user' | 'address', max: number) => {
        const first = await call();
        if (first.status !== 200) {
          expectRateLimited(first, who, max);
          return 1;
        }
        await shared();
        expectRateLimited(await call(), who, max);
        return 2;
      };

      it('share one budget per user and per address', async () => {
        const second = await started(db, limits);
        try {
          const u = users[8];
          const me = (s: TestServer) => () =>
            send(s.url, 'GET', '/api/v1/me', { token: u.token, from: '203.0.113.8' });
          expect(await statuses(3, me(server))).toEqual(ok(3));
          await shared();
          expect(await statuses(2, me(second))).toEqual(ok(2));
          await shared();
          let userSent = 5;
          expectRateLimited(await me(second)(), 'user', USER_LIMIT); // second knows the total
          userSent += 1;
          userSent += await refusedWithin(me(server), 'user', USER_LIMIT);

          const from = '203.0.113.9';
          const products = (s: TestServer) => () => send(s.url, 'GET', '/api/v1/products', { from });
          expect(await statuses(ADDRESS_LIMIT / 2, products(server))).toEqual(ok(ADDRESS_LIMIT / 2));
          await shared();
          expect(await statuses(ADDRESS_LIMIT / 2, products(second))).toEqual(ok(ADDRESS_LIMIT / 2));
          await shared();
          let addressSent = ADDRESS_LIMIT;
          expectRateLimited(await products(second)(), 'address', ADDRESS_LIMIT);
          addressSent += 1;
          addressSent += await refusedWithin(products(server), 'address', ADDRESS_LIMIT);
          await shared();

          // One counter per user and per address under the deployment's prefix, counting every
          // request of every process, and expiring with its window.
          const r = new Redis(inject('redisUrl'));
          try {
            const userKey = `${db.redisPrefix}ratelimit:user:${u.id}`;
            const addressKey = `${db.redisPrefix}ratelimit:addr:${from}`;
            expect(Number(await r.get(userKey))).toBe(userSent);
            expect(Number(await r.get(addressKey))).toBe(addressSent);
            for (const key of [userKey, addressKey]) {
              expect(await r.pttl(key)).toBeGreaterThan(0);
              expect(await r.pttl(key)).toBeLessThanOrEqual(60_000);
            }
          } finally {
            r.disconnect();
          }
        } finally {
          await second.close();
        }
      });

      it('goes on limiting on its own counts while Redis is unreachable, and shares them once it is back', async () => {
        const proxy = await redisProxy(new URL(inject('redisUrl')));
        const viaProxy = await started(db, { ...limits, redisUrl: proxy.url });
        try {
          const [u, v] = [users[9], users[10]];
          let address = 0;
          // Each call from an address of its own: only the user's budget is in play.
          const me = (s: TestServer, who: TestUser) => () =>
            send(s.url, 'GET', '/api/v1/me', { token: who.token, from: `198.51.100.${++address}` });
          expect(await statuses(USER_LIMIT, me(viaProxy, u))).toEqual(ok(USER_LIMIT));
          expect((await me(viaProxy, u)()).status).toBe(429);

          proxy.cut();
          await new Promise((r) => setTimeout(r, 100));
          // Nothing is refused because of the outage, and nobody escapes the limit either.
          expect((await me(viaProxy, u)()).status).toBe(429);
          expect(await statuses(USER_LIMIT, me(viaProxy, v))).toEqual(ok(USER_LIMIT));
          expectRateLimited(await me(viaProxy, v)(), 'user', USER_LIMIT);

          // Redis back (the client reconnects within a second): the counts made during the outage
          // reach the shared counter, and another process refuses the user too.
          proxy.restore();
          const r = new Redis(inject('redisUrl'));
          try {
            const key = `${db.redisPrefix}ratelimit:user:${v.id}`;
            const deadline = Date.now() + 10_000;
            while (Number(await r.get(key)) < USER_LIMIT + 1 && Date.now() < deadline) await shared();
            expect(Number(await r.get(key))).toBe(USER_LIMIT + 1);
          } finally {
            r.disconnect();
          }
          await refusedWithin(me(server, v), 'user', USER_LIMIT);
        } finally {
          await viaProxy.close();
          await proxy.close();
        }
      });
    });
  });
}
