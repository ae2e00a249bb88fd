/**
 * A dependency dying mid-way (cluster mode): Redis becomes unreachable while seats are being held.
 * Holds fall back to PostgreSQL alone behind the gate breaker (slower, still exact), and once Redis
 * is back the gate is reloaded from PostgreSQL, so the seats held during the outage stay taken.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_TOKEN, clusterAvailable, startTestServer, type TestServer } from '../support/harness.js';
import { redisProxy } from '../support/redis.js';
import { hold, NO_VIOLATIONS, pay, seatAudit } from './concert-support.js';
import { chargeAll, type Env, post, startEnv, type TestUser, users, waitFor } from './support.js';

describe.skipIf(!clusterAvailable())('concert holds when Redis dies (cluster)', () => {
  let env: Env;
  let proxy: Awaited<ReturnType<typeof redisProxy>>;
  let server: TestServer;
  let people: TestUser[];
  const on = { base: '' };

  beforeAll(async () => {
    env = await startEnv('cluster');
    proxy = await redisProxy(new URL(inject('redisUrl')));
    server = await startTestServer(env.db, { redisUrl: proxy.url });
    on.base = server.url;
    people = await users(env, 30);
    await chargeAll(env, people, 1_000);
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await env?.close();
  });

  it('keeps holding exactly through PostgreSQL while Redis is away, and the gate learns the outage’s holds after', async () => {
    const c = await post(env, '/api/v1/admin/concerts', ADMIN_TOKEN, {
      name: 'outage',
      schedules: [{ startsAt: '2030-01-01T00:00:00Z', seatCount: 30, price: 10 }],
    });
    const s = c.body.schedules[0].id as string;
    const before = await Promise.all(
      people.slice(0, 5).map((u, i) => hold(env, u.token, s, [i + 1], {}, on.base)),
    );
    for (const h of before) expect(h.status).toBe(201);
    expect((await hold(env, people[10].token, s, [1], {}, on.base)).body.code).toBe('SEAT_UNAVAILABLE');

    proxy.cut();
    const during = await Promise.all(
      people.slice(5, 10).map((u, i) => hold(env, u.token, s, [i + 6], {}, on.base)),
    );
    for (const h of during) expect(h.status).toBe(201);
    // Seats held before and during the outage are refused by PostgreSQL itself; pays still work.
    const refused = await Promise.all([
      hold(env, people[11].token, s, [1, 20], {}, on.base),
      hold(env, people[12].token, s, [6], {}, on.base),
    ]);
    for (const r of refused) expect([r.status, r.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);
    expect((await pay(env, people[5].token, during[0].body.reservationId, {}, on.base)).status).toBe(200);

    proxy.restore();
    // Once the breaker lets calls through again and the gate is reloaded, the gate itself refuses
    // the outage's seats (and the holds PostgreSQL decides stay exact meanwhile).
    await waitFor('the gate back', async () => {
      const r = await hold(env, people[13].token, s, [7], {}, on.base);
      expect([r.status, r.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);
      const h = await server.app.inject({ method: 'GET', url: '/readyz' });
      return !/open \(PostgreSQL-only path\)/.test(h.body);
    });
    const after = await Promise.all(
      people.slice(14, 20).map((u, i) => hold(env, u.token, s, [i + 1], {}, on.base)),
    );
    for (const r of after) expect([r.status, r.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);
    expect((await hold(env, people[20].token, s, [30], {}, on.base)).status).toBe(201);
    expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
  });
});
