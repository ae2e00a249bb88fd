/**
 * The concert endpoints as a client sees them (embedded mode): shapes, every documented error code,
 * owner-only reads and payments, Idempotency-Key on holds and pays, the seat map's ETag, waiting-room
 * protection, and the outbox events of a hold's life.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConcert, hold, pay, send } from './concert-support.js';
import {
  ADMIN_TOKEN,
  chargeAll,
  type Env,
  get,
  one,
  post,
  startEnv,
  type TestUser,
  users,
  waitFor,
} from './support.js';

describe('concert API (embedded)', () => {
  let env: Env;
  let people: TestUser[];

  beforeAll(async () => {
    env = await startEnv('embedded');
    people = await users(env, 40);
    await chargeAll(env, people, 5_000);
  });
  afterAll(async () => {
    await env?.close();
  });

  it('creates a concert with schedules and shows it, its schedules with availableSeats and its seat map', async () => {
    const c = await post(env, '/api/v1/admin/concerts', ADMIN_TOKEN, {
      name: 'Summer night',
      venue: 'Hall A',
      schedules: [
        { startsAt: '2030-06-01T19:00:00Z', seatCount: 10, price: 1000 },
        { startsAt: '2030-06-02T19:00:00Z', price: 500 },
      ],
    });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({
      id: expect.any(String),
      name: 'Summer night',
      venue: 'Hall A',
      waitingRoomId: null,
      schedules: [
        { id: expect.any(String), startsAt: '2030-06-01T19:00:00.000Z', seatCount: 10, price: 1000 },
        { id: expect.any(String), startsAt: '2030-06-02T19:00:00.000Z', seatCount: 50, price: 500 },
      ],
    });
    const got = await get(env, `/api/v1/concerts/${c.body.id}`);
    expect(got.body).toEqual(c.body);
    const [s1] = c.body.schedules;

    const u = people[0];
    const h = await hold(env, u.token, s1.id, [3, 1]);
    expect(h.status).toBe(201);
    expect(h.body).toEqual({
      reservationId: expect.any(String),
      scheduleId: s1.id,
      seats: [1, 3],
      status: 'HELD',
      total: 2000,
      expiresAt: expect.any(String),
    });
    const left = new Date(h.body.expiresAt).getTime() - Date.now();
    expect(left).toBeGreaterThan(290_000);
    expect(left).toBeLessThanOrEqual(301_000);

    const schedules = await get(env, `/api/v1/concerts/${c.body.id}/schedules`);
    expect(schedules.body.items.map((s: { availableSeats: number }) => s.availableSeats)).toEqual([8, 50]);

    await new Promise((r) => setTimeout(r, 600)); // the map may be up to a second old
    const map = await get(env, `/api/v1/schedules/${s1.id}/seats`);
    expect(map.status).toBe(200);
    expect(map.body.scheduleId).toBe(s1.id);
    expect(map.body.items).toHaveLength(10);
    expect(map.body.items[0]).toEqual({ number: 1, status: 'HELD', price: 1000 });
    expect(map.body.items[1]).toEqual({ number: 2, status: 'AVAILABLE', price: 1000 });
    const etag = map.headers.etag as string;
    expect(etag).toMatch(/^"[\w-]+"$/);
    const same = await send(env, 'GET', `/api/v1/schedules/${s1.id}/seats`, {
      headers: { 'if-none-match': etag },
    });
    expect([same.status, same.body]).toEqual([304, null]);
    expect(same.headers.etag).toBe(etag);

    // Paid seats read SOLD; the tag changes with the map.
    expect((await pay(env, u.token, h.body.reservationId)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    const after = await send(env, 'GET', `/api/v1/schedules/${s1.id}/seats`, {
      headers: { 'if-none-match': etag },
    });
    expect(after.status).toBe(200);
    expect(after.body.items[0].status).toBe('SOLD');
    expect(after.headers.etag).not.toBe(etag);

    const second = await createConcert(env, [{ price: 1 }]);
    const list = await get(env, '/api/v1/concerts?limit=1');
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([c.body]);
    const next = await get(env, `/api/v1/concerts?limit=1&cursor=${list.body.nextCursor}`);
    expect(next.body.items.map((x: { id: string }) => x.id)).toEqual([second.id]);
  });

  it('pays with points: a USE ledger row names the reservation, and the reservation reads PAID', async () => {
    const c = await createConcert(env, [{ seatCount: 20, price: 700 }]);
    const s = c.schedules[0].id;
    const u = people[1];
    const h = await hold(env, u.token, s, [5, 6]);
    const before = (await get(env, '/api/v1/me/points', u.token)).body.balance as number;
    const p = await pay(env, u.token, h.body.reservationId);
    expect(p.status).toBe(200);
    expect(p.body).toEqual({
      reservationId: h.body.reservationId,
      status: 'PAID',
      seats: [5, 6],
      total: 1400,
      balanceAfter: before - 1400,
      paidAt: expect.any(String),
    });
    const history = await get(env, '/api/v1/me/points/history?limit=1', u.token);
    expect(history.body.items[0]).toMatchObject({
      type: 'USE',
      amount: -1400,
      balanceAfter: before - 1400,
      ref: `reservation:${h.body.reservationId}`,
    });
    const r = await get(env, `/api/v1/reservations/${h.body.reservationId}`, u.token);
    expect(r.body).toMatchObject({
      reservationId: h.body.reservationId,
      status: 'PAID',
      seats: [5, 6],
      total: 1400,
    });
    // Paid again without a key: 409; cancelled after paying: 409.
    expect((await pay(env, u.token, h.body.reservationId)).body.code).toBe('ALREADY_PAID');
    const del = await send(env, 'DELETE', `/api/v1/reservations/${h.body.reservationId}`, { token: u.token });
    expect([del.status, del.body.code]).toEqual([409, 'ALREADY_PAID']);
    // Sold seats cannot be held again; the detail names them.
    const again = await hold(env, people[2].token, s, [6, 7, 5]);
    expect([again.status, again.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);
    expect(again.body.detail).toMatch(/seats 5, 6 of schedule/);
  });

  it('answers 404 to reads, payments and cancels of another user’s reservation, and changes nothing', async () => {
    const c = await createConcert(env, [{ seatCount: 10, price: 100 }]);
    const [owner, other] = [people[3], people[4]];
    const h = await hold(env, owner.token, c.schedules[0].id, [1]);
    const id = h.body.reservationId;
    const before = (await get(env, '/api/v1/me/points', other.token)).body.balance;
    for (const r of [
      await get(env, `/api/v1/reservations/${id}`, other.token),
      await pay(env, other.token, id),
      await send(env, 'DELETE', `/api/v1/reservations/${id}`, { token: other.token }),
    ]) {
      expect([r.status, r.body.code]).toEqual([404, 'NOT_FOUND']);
      expect(r.headers['content-type']).toMatch(/application\/problem\+json/);
    }
    expect((await get(env, '/api/v1/me/points', other.token)).body.balance).toBe(before);
    expect((await get(env, `/api/v1/reservations/${id}`, owner.token)).body.status).toBe('HELD');
    const mine = await get(env, '/api/v1/me/reservations', other.token);
    expect(mine.body.items.map((x: { reservationId: string }) => x.reservationId)).not.toContain(id);
  });

  it('makes holds and payments with an Idempotency-Key take effect once and answer the same again', async () => {
    const c = await createConcert(env, [{ seatCount: 10, price: 300 }]);
    const s = c.schedules[0].id;
    const u = people[5];
    const key = { 'idempotency-key': 'hold-once-1' };
    const [h1, h2] = await Promise.all([
      hold(env, u.token, s, [2, 4], key),
      hold(env, u.token, s, [2, 4], key),
    ]);
    expect([h1.status, h2.status]).toEqual([201, 201]);
    expect(h2.body).toEqual(h1.body);
    const reused = await hold(env, u.token, s, [5], key);
    expect([reused.status, reused.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    const n = await one<{ n: number }>(
      env,
      'SELECT count(*)::int AS n FROM seat_reservations WHERE user_id = $1',
      [u.id],
    );
    expect(n.n).toBe(1);

    const payKey = { 'idempotency-key': 'pay-once-1' };
    const before = (await get(env, '/api/v1/me/points', u.token)).body.balance as number;
    const pays = await Promise.all([1, 2, 3].map(() => pay(env, u.token, h1.body.reservationId, payKey)));
    for (const p of pays) expect([p.status, p.body]).toEqual([200, pays[0].body]);
    expect((await get(env, '/api/v1/me/points', u.token)).body.balance).toBe(before - 600);
    const uses = await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM point_ledger WHERE ref = $1', [
      `reservation:${h1.body.reservationId}`,
    ]);
    expect(uses.n).toBe(1);
    // The same key for another reservation's pay is a different request.
    const other = await hold(env, u.token, s, [7]);
    const wrong = await pay(env, u.token, other.body.reservationId, payKey);
    expect([wrong.status, wrong.body.code]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    // A refused hold keeps no key: the retry runs again.
    const refused = await hold(env, people[6].token, s, [2], { 'idempotency-key': 'k-taken' });
    expect(refused.body.code).toBe('SEAT_UNAVAILABLE');
    const retry = await hold(env, people[6].token, s, [3], { 'idempotency-key': 'k-taken' });
    expect(retry.status).toBe(201);
  });

  it('answers 402 when the points do not cover the hold, 410 once it expired or was cancelled, and releases on cancel', async () => {
    const c = await createConcert(env, [{ seatCount: 10, price: 4_000 }]);
    const s = c.schedules[0].id;
    const [poor] = await users(env, 1);
    await chargeAll(env, [poor], 7_000);
    const h = await hold(env, poor.token, s, [1, 2]);
    const p = await pay(env, poor.token, h.body.reservationId);
    expect([p.status, p.body.code]).toEqual([402, 'INSUFFICIENT_POINTS']);
    expect((await get(env, '/api/v1/me/points', poor.token)).body.balance).toBe(7_000);
    expect((await get(env, `/api/v1/reservations/${h.body.reservationId}`, poor.token)).body.status).toBe(
      'HELD',
    );

    // Cancel: 204, the seats are free at once, the reservation reads CANCELLED and pays 410.
    const del = await send(env, 'DELETE', `/api/v1/reservations/${h.body.reservationId}`, {
      token: poor.token,
    });
    expect(del.status).toBe(204);
    expect((await get(env, `/api/v1/reservations/${h.body.reservationId}`, poor.token)).body.status).toBe(
      'CANCELLED',
    );
    const late = await pay(env, poor.token, h.body.reservationId);
    expect([late.status, late.body.code]).toEqual([410, 'HOLD_EXPIRED']);
    expect((await hold(env, people[7].token, s, [1, 2])).status).toBe(201);
    const again = await send(env, 'DELETE', `/api/v1/reservations/${h.body.reservationId}`, {
      token: poor.token,
    });
    expect(again.status).toBe(204);

    // Expiry (set on PostgreSQL's clock): reads EXPIRED at once, pays 410, and the sweeper tidies it
    // with a reservation.expired event.
    const h2 = await hold(env, poor.token, s, [5]);
    await env.sql.query(
      `WITH r AS (UPDATE seat_reservations SET expires_at = now() WHERE id = $1)
       UPDATE schedule_seats SET hold_expires_at = now() WHERE reservation_id = $1`,
      [h2.body.reservationId],
    );
    expect((await get(env, `/api/v1/reservations/${h2.body.reservationId}`, poor.token)).body.status).toBe(
      'EXPIRED',
    );
    const expired = await pay(env, poor.token, h2.body.reservationId);
    expect([expired.status, expired.body.code]).toEqual([410, 'HOLD_EXPIRED']);
    await waitFor('the sweeper', async () => {
      const r = await one<{ status: string; seat: string }>(
        env,
        `SELECT r.status, ss.status AS seat FROM seat_reservations r
         JOIN schedule_seats ss ON ss.schedule_id = r.schedule_id AND ss.seat_number = 5 WHERE r.id = $1`,
        [h2.body.reservationId],
      );
      return r.status === 'EXPIRED' && r.seat === 'AVAILABLE';
    });
    const events = await env.sql.query<{ topic: string }>(
      `SELECT topic FROM outbox WHERE payload->>'reservationId' = $1 ORDER BY id`,
      [h2.body.reservationId],
    );
    expect(events.rows.map((e) => e.topic)).toEqual(['reservation.held', 'reservation.expired']);
  });

  it('writes reservation.held and reservation.paid to the outbox and delivers them as notifications', async () => {
    const c = await createConcert(env, [{ seatCount: 5, price: 10 }]);
    const u = people[8];
    const h = await hold(env, u.token, c.schedules[0].id, [1]);
    await pay(env, u.token, h.body.reservationId);
    const events = await env.sql.query<{ topic: string; payload: Record<string, unknown> }>(
      `SELECT topic, payload FROM outbox WHERE payload->>'reservationId' = $1 ORDER BY id`,
      [h.body.reservationId],
    );
    expect(events.rows.map((e) => e.topic)).toEqual(['reservation.held', 'reservation.paid']);
    expect(events.rows[1].payload).toMatchObject({
      reservationId: h.body.reservationId,
      concertId: c.id,
      scheduleId: c.schedules[0].id,
      userId: u.id,
      seats: [1],
      total: 10,
    });
    await waitFor('notifications', async () => {
      const n = await get(env, '/api/v1/me/notifications', u.token);
      return n.body.items.length >= 2;
    });
  });

  it('refuses bad input with the documented 4xx', async () => {
    const c = await createConcert(env, [{ seatCount: 10, price: 1 }]);
    const s = c.schedules[0].id;
    const t = people[9].token;
    const cases: [unknown, number, string][] = [
      [{ scheduleId: s, seats: [] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: [1, 2, 3, 4, 5] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: [1, 1] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: [0] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: [1.5] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: ['1'] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: [11] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: s, seats: [1], extra: true }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: 'a\u0000b', seats: [1] }, 400, 'VALIDATION_FAILED'],
      [{ scheduleId: '999999999', seats: [1] }, 404, 'NOT_FOUND'],
      [{ scheduleId: 'abc', seats: [1] }, 404, 'NOT_FOUND'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post(env, '/api/v1/reservations', t, body);
      expect([r.status, r.body.code], JSON.stringify(body)).toEqual([status, code]);
    }
    const noAuth = await send(env, 'POST', '/api/v1/reservations', { body: { scheduleId: s, seats: [1] } });
    expect([noAuth.status, noAuth.body.code]).toEqual([401, 'UNAUTHENTICATED']);
    const admin = await post(env, '/api/v1/reservations', ADMIN_TOKEN, { scheduleId: s, seats: [1] });
    expect([admin.status, admin.body.code]).toEqual([403, 'FORBIDDEN']);
    const byUser = await post(env, '/api/v1/admin/concerts', t, {
      name: 'x',
      schedules: [{ startsAt: '2030-01-01T00:00:00Z', price: 1 }],
    });
    expect([byUser.status, byUser.body.code]).toEqual([403, 'FORBIDDEN']);
    const badConcerts: unknown[] = [
      { name: 'x', schedules: [] },
      { name: 'x', schedules: [{ startsAt: 'tomorrow', price: 1 }] },
      { name: 'x', schedules: [{ startsAt: '2030-01-01T00:00:00Z', price: -1 }] },
      { name: 'x', schedules: [{ startsAt: '2030-01-01T00:00:00Z', price: 1, seatCount: 1001 }] },
      { name: '', schedules: [{ startsAt: '2030-01-01T00:00:00Z', price: 1 }] },
      { name: 'x', waitingRoomId: '999999', schedules: [{ startsAt: '2030-01-01T00:00:00Z', price: 1 }] },
    ];
    for (const body of badConcerts) {
      const r = await post(env, '/api/v1/admin/concerts', ADMIN_TOKEN, body);
      expect([r.status, r.body.code], JSON.stringify(body)).toEqual([400, 'VALIDATION_FAILED']);
    }
    for (const path of [
      '/api/v1/concerts/999999',
      '/api/v1/concerts/nope',
      '/api/v1/concerts/999999/schedules',
      '/api/v1/schedules/999999/seats',
      '/api/v1/schedules/x/seats',
    ]) {
      const r = await get(env, path);
      expect([r.status, r.body.code], path).toEqual([404, 'NOT_FOUND']);
    }
    for (const path of ['/api/v1/reservations/999999', '/api/v1/reservations/x']) {
      const r = await get(env, path, t);
      expect([r.status, r.body.code], path).toEqual([404, 'NOT_FOUND']);
    }
    for (const q of ['limit=0', 'limit=101', 'limit=1e2', 'cursor=zz']) {
      const r = await get(env, `/api/v1/me/reservations?${q}`, t);
      expect([r.status, r.body.code], q).toEqual([400, 'VALIDATION_FAILED']);
      const l = await get(env, `/api/v1/concerts?${q}`);
      expect([l.status, l.body.code], q).toEqual([400, 'VALIDATION_FAILED']);
    }
  });

  it('counts holds (by who answered) and payments at /metrics', async () => {
    const c = await createConcert(env, [{ seatCount: 5, price: 1 }]);
    const s = c.schedules[0].id;
    const h = await hold(env, people[13].token, s, [1]);
    expect((await hold(env, people[14].token, s, [1])).body.code).toBe('SEAT_UNAVAILABLE');
    await pay(env, people[13].token, h.body.reservationId);
    const text = (await send(env, 'GET', '/metrics')).body as unknown as string;
    expect(text).toMatch(/stampede_seat_holds_total\{outcome="held",by="commit"\} [1-9]/);
    expect(text).toMatch(/stampede_seat_holds_total\{outcome="seat_unavailable",by="gate"\} [1-9]/);
    expect(text).toMatch(/stampede_seat_payments_total\{outcome="paid"\} [1-9]/);
  });

  it('pages the user’s reservations newest first', async () => {
    const c = await createConcert(env, [{ seatCount: 10, price: 1 }]);
    const u = people[10];
    const ids: string[] = [];
    for (const seat of [1, 2, 3])
      ids.push((await hold(env, u.token, c.schedules[0].id, [seat])).body.reservationId);
    const p1 = await get(env, '/api/v1/me/reservations?limit=2', u.token);
    expect(p1.body.items.map((r: { reservationId: string }) => r.reservationId)).toEqual([ids[2], ids[1]]);
    const p2 = await get(env, `/api/v1/me/reservations?limit=2&cursor=${p1.body.nextCursor}`, u.token);
    expect(p2.body.items.map((r: { reservationId: string }) => r.reservationId)).toEqual([ids[0]]);
    expect(p2.body.nextCursor).toBeUndefined();
  });

  it('protects a concert behind a waiting room: 403 NOT_ADMITTED without a valid pass, PASS_EXPIRED after it; paying ends the pass', async () => {
    const room = await post(env, '/api/v1/admin/waiting-rooms', ADMIN_TOKEN, {
      name: 'concert room',
      maxActive: 5,
      passTtlSeconds: 10,
    });
    expect(room.status).toBe(201);
    const roomId = room.body.id as string;
    const c = await createConcert(env, [{ seatCount: 10, price: 10 }], { waitingRoomId: roomId });
    expect(c.waitingRoomId).toBe(roomId);
    const s = c.schedules[0].id;
    const [a, b] = [people[11], people[12]];
    const entryOf = async (u: TestUser) => {
      await post(env, `/api/v1/waiting-rooms/${roomId}/entries`, u.token, undefined);
      let e: { status: string; pass?: string; passExpiresAt?: string } = { status: 'WAITING' };
      await waitFor('admitted', async () => {
        e = (await get(env, `/api/v1/waiting-rooms/${roomId}/entries/me`, u.token)).body;
        return e.status === 'ADMITTED';
      });
      return e as { status: string; pass: string; passExpiresAt: string };
    };
    const ea = await entryOf(a);
    const eb = await entryOf(b);
    for (const [u, pass] of [
      [a, undefined],
      [a, 'forged.pass'],
      [a, eb.pass],
    ] as const) {
      const r = await hold(env, u.token, s, [1], pass ? { 'x-waiting-room-pass': pass } : {});
      expect([r.status, r.body.code]).toEqual([403, 'NOT_ADMITTED']);
    }
    const h = await hold(env, a.token, s, [1], { 'x-waiting-room-pass': ea.pass });
    expect(h.status).toBe(201);
    expect((await pay(env, a.token, h.body.reservationId)).status).toBe(200);
    expect((await get(env, `/api/v1/waiting-rooms/${roomId}/entries/me`, a.token)).body.status).toBe('DONE');
    const used = await hold(env, a.token, s, [2], { 'x-waiting-room-pass': ea.pass });
    expect([used.status, used.body.code]).toEqual([403, 'NOT_ADMITTED']);

    await new Promise((r) =>
      setTimeout(r, Math.max(0, new Date(eb.passExpiresAt).getTime() - Date.now()) + 300),
    );
    const expired = await hold(env, b.token, s, [3], { 'x-waiting-room-pass': eb.pass });
    expect([expired.status, expired.body.code]).toEqual([403, 'PASS_EXPIRED']);
  });
});
