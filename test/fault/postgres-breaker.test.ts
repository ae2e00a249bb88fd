/**
 * PostgreSQL unreachable: the process's circuit breaker around it. A server reaches its database
 * through a TCP proxy the test cuts. The first writes fail with 503 UNAVAILABLE (nothing held);
 * after three failed connections the circuit opens, and from then on every route that needs
 * PostgreSQL answers 503 UNAVAILABLE with Retry-After at once, /readyz says why and /metrics shows
 * the state. Once the database is back, a probe closes the circuit and everything works again,
 * with nothing of the outage half-written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConcert, hold, NO_VIOLATIONS, pay, seatAudit, send } from '../commerce/concert-support.js';
import {
  chargeAll,
  type Env,
  type Res,
  startEnv,
  type TestUser,
  users,
  waitFor,
} from '../commerce/support.js';
import { startTestServer, type TestServer } from '../support/harness.js';
import { type TcpProxy, tcpProxy, throughProxy } from '../support/proxy.js';

describe('PostgreSQL unreachable: the circuit breaker (embedded PostgreSQL behind a proxy)', () => {
  let env: Env;
  let proxy: TcpProxy;
  let server: TestServer;
  let people: TestUser[];
  const on = { base: '' };

  beforeAll(async () => {
    env = await startEnv('embedded');
    const db = new URL(env.db.url);
    proxy = await tcpProxy(db.hostname, Number(db.port));
    const proxied = throughProxy(env.db.url, proxy);
    server = await startTestServer({ ...env.db, url: proxied });
    on.base = server.url;
    people = await users(env, 10);
    await chargeAll(env, people, 1_000);
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await env?.close();
  });

  const metric = async () =>
    String((await send(env, 'GET', '/metrics', { base: on.base })).body).match(
      /stampede_breaker_state\{breaker="postgres"\} (\d)/,
    )?.[1];
  const unavailable = (r: Res) => {
    expect([r.status, r.body?.code]).toEqual([503, 'UNAVAILABLE']);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  };

  it('answers 503 UNAVAILABLE with Retry-After while the circuit is open, and recovers when PostgreSQL is back', async () => {
    const concert = await createConcert(env, [{ seatCount: 20, price: 10 }]);
    const s = concert.schedules[0].id;
    const first = await hold(env, people[0].token, s, [1], {}, on.base);
    expect(first.status).toBe(201);
    expect(await metric()).toBe('0');

    proxy.cut();
    // Holds while it opens: each one 503 with nothing held (never a 500, never a 201).
    for (let i = 1; i <= 5; i++) unavailable(await hold(env, people[i].token, s, [i + 1], {}, on.base));
    await waitFor('the postgres circuit to open', async () => (await metric()) === '2');

    // Open: every route that needs PostgreSQL answers at once, with the same code.
    unavailable(await pay(env, people[0].token, first.body.reservationId, {}, on.base));
    unavailable(
      await send(env, 'GET', `/api/v1/reservations/${first.body.reservationId}`, {
        token: people[0].token,
        base: on.base,
      }),
    );
    unavailable(await hold(env, people[6].token, s, [7], {}, on.base));
    const ready = await send(env, 'GET', '/readyz', { base: on.base });
    expect(ready.status).toBe(503);
    expect(ready.body.checks.postgres.status).toBe('down');
    expect(ready.body.checks.postgres.detail).toMatch(/breaker (open|half-open)/);

    proxy.restore();
    // /readyz probes PostgreSQL itself: once the half-open probe succeeds the circuit closes.
    await waitFor(
      'readiness',
      async () => (await send(env, 'GET', '/readyz', { base: on.base })).status === 200,
    );
    expect(await metric()).toBe('0');
    expect((await hold(env, people[1].token, s, [2], {}, on.base)).status).toBe(201);
    expect((await pay(env, people[0].token, first.body.reservationId, {}, on.base)).status).toBe(200);

    // Nothing of the outage was written: the two holds made outside it, and the invariants hold.
    const { rows } = await env.sql.query<{ seats: number[] }>(
      'SELECT seats FROM seat_reservations WHERE schedule_id = $1 ORDER BY id',
      [s],
    );
    expect(rows.map((r) => r.seats)).toEqual([[1], [2]]);
    expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
  });
});
