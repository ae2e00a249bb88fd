/**
 * The seat invariants under attack, in both modes: a seat is sold at most once, at any instant at
 * most one live hold covers a seat, a hold past its expiry blocks nobody and can never be paid, and
 * the wallet stays exact. Holds go straight to PostgreSQL's group commit (no gate in front), so
 * these tests prove the commit is exact on its own; in cluster mode two server processes share the
 * database, and in embedded mode several commits per schedule run at once (COMMIT_CONCURRENCY=4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable, startTestServer, type TestServer } from '../support/harness.js';
import { createConcert, hold, NO_VIOLATIONS, pay, refreshGates, seatAudit, send } from './concert-support.js';
import {
  chargeAll,
  type Env,
  ledgerMismatches,
  type Mode,
  one,
  startEnv,
  type TestUser,
  users,
} from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`concert seats (${mode})`, () => {
    let env: Env;
    let second: TestServer | null = null;
    let people: TestUser[];
    /** Alternates between the processes in cluster mode. */
    const base = (i: number) => (second && i % 2 === 1 ? second.url : undefined);

    beforeAll(async () => {
      env = await startEnv(mode, { commitConcurrency: 4 }, 512);
      if (mode === 'cluster') second = await startTestServer(env.db, { commitConcurrency: 4 });
      people = await users(env, 1200);
      await chargeAll(env, people, 1_000);
    });
    afterAll(async () => {
      await second?.close();
      await env?.close();
    });

    it('holds and sells each of 50 seats at most once while 500 users race for 1–2 seats each', async () => {
      const concert = await createConcert(env, [{ seatCount: 50, price: 100 }]);
      const scheduleId = concert.schedules[0].id;
      const racers = people.slice(0, 500);
      const wants = racers.map(() => {
        const a = 1 + Math.floor(Math.random() * 50);
        const b = 1 + Math.floor(Math.random() * 50);
        return Math.random() < 0.5 || a === b ? [a] : [a, b];
      });
      const answers = await Promise.all(
        racers.map((u, i) => hold(env, u.token, scheduleId, wants[i], {}, base(i))),
      );
      for (const a of answers) {
        expect([201, 409]).toContain(a.status);
        if (a.status === 409) expect(a.body.code).toBe('SEAT_UNAVAILABLE');
      }
      const won = answers.flatMap((a, i) => (a.status === 201 ? [{ i, r: a.body }] : []));
      const heldSeats = won.flatMap((w) => w.r.seats as number[]);
      expect(new Set(heldSeats).size).toBe(heldSeats.length); // no seat in two 201s
      expect(heldSeats.length).toBeLessThanOrEqual(50);
      for (const w of won) expect(w.r.seats).toEqual([...wants[w.i]].sort((x, y) => x - y));
      // A 409 named seats that some winner holds.
      for (const a of answers.filter((x) => x.status === 409)) {
        const named =
          (a.body.detail as string)
            .match(/seats? ([\d, ]+) of/)?.[1]
            .split(', ')
            .map(Number) ?? [];
        expect(named.length).toBeGreaterThan(0);
        for (const n of named) expect(heldSeats).toContain(n);
      }

      // Everyone who won pays at once, and the losers retry on the other process meanwhile.
      const paid = await Promise.all([
        ...won.map((w) => pay(env, racers[w.i].token, w.r.reservationId, {}, base(w.i + 1))),
      ]);
      const retries = await Promise.all(
        racers.slice(0, 100).map((u, i) => hold(env, u.token, scheduleId, wants[i], {}, base(i + 1))),
      );
      for (const p of paid) expect(p.status).toBe(200);
      for (const r of retries) expect([r.status, r.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);

      const sold = await one<{ n: number; seats: number }>(
        env,
        'SELECT count(*)::int AS n, count(DISTINCT seat_number)::int AS seats FROM sold_seats WHERE schedule_id = $1',
        [scheduleId],
      );
      expect(sold).toEqual({ n: heldSeats.length, seats: heldSeats.length });
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
      expect(await ledgerMismatches(env)).toBe(0);
    });

    it('never lets a pay at expiry − δ and a hold of the same seat at expiry + δ both succeed; a pay after expiry is always 410', async () => {
      const PAIRS = 300;
      const concert = await createConcert(env, [{ seatCount: PAIRS, price: 10 }]);
      const scheduleId = concert.schedules[0].id;
      const payers = people.slice(500, 500 + PAIRS);
      const takers = people.slice(500 + PAIRS, 500 + 2 * PAIRS);
      const holds = await Promise.all(payers.map((u, i) => hold(env, u.token, scheduleId, [i + 1])));
      for (const h of holds) expect(h.status).toBe(201);
      const ids = holds.map((h) => h.body.reservationId as string);

      // Pair i's hold expires at E_i = T + 10 ms · i, T 300 ms ahead on PostgreSQL's clock (the
      // clock that decides), in the reservation and on its seat rows alike. Staggering the pairs
      // keeps each pair's two requests alone near their instant, so both orders really happen.
      const { t } = await one<{ t: number }>(
        env,
        `WITH t AS (SELECT clock_timestamp() + interval '300 milliseconds' AS t),
         e AS (SELECT id, t.t + make_interval(secs => (ord - 1) * 0.01) AS e
               FROM t, unnest($1::bigint[]) WITH ORDINALITY AS x(id, ord)),
         r AS (UPDATE seat_reservations r SET expires_at = e.e FROM e WHERE r.id = e.id RETURNING 1),
         s AS (UPDATE schedule_seats ss SET hold_expires_at = e.e FROM e WHERE ss.reservation_id = e.id RETURNING 1)
         SELECT extract(epoch FROM t.t) * 1000 AS t FROM t`,
        [ids],
      );
      await refreshGates(env, ...(second ? [second] : []));
      const expiryOf = (i: number) => Number(t) + 10 * i;

      // Pair i: the holder pays at E_i − δ1, another user holds the same seat at E_i + δ2, δ in 1..8 ms.
      const at = (ms: number) => sleep(Math.max(0, ms - Date.now()));
      const outcomes = await Promise.all(
        payers.map(async (u, i) => {
          const [p, h] = await Promise.all([
            at(expiryOf(i) - 1 - Math.random() * 7).then(() => pay(env, u.token, ids[i], {}, base(i))),
            at(expiryOf(i) + 1 + Math.random() * 7).then(() =>
              hold(env, takers[i].token, scheduleId, [i + 1], {}, base(i + 1)),
            ),
          ]);
          return { p, h };
        }),
      );
      let paidCount = 0;
      let takenCount = 0;
      for (const { p, h } of outcomes) {
        expect([200, 410], JSON.stringify(p.body)).toContain(p.status);
        expect([201, 409]).toContain(h.status);
        if (p.status === 410) expect(p.body.code).toBe('HOLD_EXPIRED');
        if (h.status === 409) expect(h.body.code).toBe('SEAT_UNAVAILABLE');
        expect(p.status === 200 && h.status === 201).toBe(false); // never both
        expect(p.status === 410 && h.status === 409).toBe(false); // the seat was free: the hold wins
        if (p.status === 200) paidCount++;
        if (h.status === 201) takenCount++;
      }
      expect(paidCount + takenCount).toBe(PAIRS);
      // Both sides of the boundary were exercised (each side won some pairs).
      expect(paidCount).toBeGreaterThan(0);
      expect(takenCount).toBeGreaterThan(0);
      console.log(`boundary pairs: ${paidCount} paid before expiry, ${takenCount} taken over after it`);

      // Every pay that got 200 committed before E by PostgreSQL's clock.
      const late = await one<{ n: number }>(
        env,
        `SELECT count(*)::int AS n FROM seat_reservations WHERE id = ANY ($1::bigint[]) AND status = 'PAID' AND paid_at >= expires_at`,
        [ids],
      );
      expect(late.n).toBe(0);

      // After E, every unpaid hold pays 410, whoever holds the seat now.
      const unpaid = outcomes.flatMap((o, i) => (o.p.status === 410 ? [i] : []));
      const again = await Promise.all(unpaid.map((i) => pay(env, payers[i].token, ids[i], {}, base(i))));
      for (const a of again) expect([a.status, a.body.code]).toEqual([410, 'HOLD_EXPIRED']);
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
    });

    it('answers 410 to every pay of a hold whose expiry has just passed, and frees its seat for the next', async () => {
      const concert = await createConcert(env, [{ seatCount: 200, price: 10 }]);
      const scheduleId = concert.schedules[0].id;
      const holders = people.slice(1100, 1150);
      const holds = await Promise.all(
        holders.map((u, i) => hold(env, u.token, scheduleId, [i + 1, i + 101])),
      );
      const ids = holds.map((h) => h.body.reservationId as string);
      await env.sql.query(
        `WITH r AS (UPDATE seat_reservations SET expires_at = now() - interval '1 millisecond' WHERE id = ANY ($1::bigint[]))
         UPDATE schedule_seats SET hold_expires_at = now() - interval '1 millisecond' WHERE reservation_id = ANY ($1::bigint[])`,
        [ids],
      );
      await refreshGates(env, ...(second ? [second] : []));
      const pays = await Promise.all(holders.map((u, i) => pay(env, u.token, ids[i], {}, base(i))));
      for (const p of pays) expect([p.status, p.body.code]).toEqual([410, 'HOLD_EXPIRED']);
      const reads = await Promise.all(
        holders.map((u, i) =>
          env.http.call('GET', `${env.server.url}/api/v1/reservations/${ids[i]}`, { token: u.token }),
        ),
      );
      for (const r of reads) expect(r.body.status).toBe('EXPIRED');
      // The expired holds block nobody, sweeper or not.
      const takers = people.slice(1150, 1200);
      const taken = await Promise.all(takers.map((u, i) => hold(env, u.token, scheduleId, [i + 1, i + 101])));
      for (const t of taken) expect(t.status).toBe(201);
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
    });

    it('never deadlocks: pays of seat pairs (lowest first) race holds batched from the highest seat down', async () => {
      // A hold batch judges its requests in arrival order; a pay locks its seats in ascending order.
      // Both must take seat locks in one order, or a batch holding seat 20 waits for seat 1 while a
      // pay holding seat 1 waits for seat 20 (PostgreSQL then kills one: a 5xx).
      const ROUNDS = 6;
      const crowd = await users(env, 40);
      await chargeAll(env, crowd.slice(0, 10), 1_000);
      const failures: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const concert = await createConcert(env, [{ seatCount: 20, price: 1 }]);
        const s = concert.schedules[0].id;
        const pairs = await Promise.all(
          crowd.slice(0, 10).map((u, i) => hold(env, u.token, s, [i + 1, 20 - i])),
        );
        for (const p of pairs) expect(p.status).toBe(201);
        const racers = crowd.slice(10, 40);
        const answers = await Promise.all([
          ...pairs.map((p, i) => pay(env, crowd[i].token, p.body.reservationId, {}, base(i))),
          ...racers.map((u, k) => hold(env, u.token, s, [20 - (k % 20)], {}, base(k))),
        ]);
        for (const a of answers) if (a.status >= 500) failures.push(`${a.status} ${a.body?.code}`);
      }
      expect(failures).toEqual([]);
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
    });

    it('keeps every wallet equal to its ledger when each user pays two holds at once', async () => {
      const concert = await createConcert(env, [{ seatCount: 400, price: 150 }]);
      const scheduleId = concert.schedules[0].id;
      // Fresh buyers: even ones can pay both reservations (600 points), odd ones only one (450).
      const buyers = await users(env, 100);
      const balanceOf = (i: number) => (i % 2 === 0 ? 600 : 450);
      await chargeAll(
        env,
        buyers.filter((_, i) => i % 2 === 0),
        600,
      );
      await chargeAll(
        env,
        buyers.filter((_, i) => i % 2 === 1),
        450,
      );
      const holds = await Promise.all(
        buyers.flatMap((u, i) => [
          hold(env, u.token, scheduleId, [4 * i + 1, 4 * i + 2]),
          hold(env, u.token, scheduleId, [4 * i + 3, 4 * i + 4]),
        ]),
      );
      for (const h of holds) expect([h.status, h.body.total]).toEqual([201, 300]);
      const pays = await Promise.all(
        holds.map((h, k) => pay(env, buyers[Math.floor(k / 2)].token, h.body.reservationId, {}, base(k))),
      );
      for (const [i, u] of buyers.entries()) {
        const mine = [pays[2 * i], pays[2 * i + 1]];
        const ok = mine.filter((p) => p.status === 200);
        expect(ok.length).toBe(i % 2 === 0 ? 2 : 1);
        for (const p of mine.filter((x) => x.status !== 200))
          expect([p.status, p.body.code]).toEqual([402, 'INSUFFICIENT_POINTS']);
        const now = await env.http.call('GET', `${env.server.url}/api/v1/me/points`, { token: u.token });
        expect(now.body.balance).toBe(balanceOf(i) - 300 * ok.length);
        expect(Math.min(...ok.map((p) => p.body.balanceAfter as number))).toBe(now.body.balance);
      }
      expect(await ledgerMismatches(env)).toBe(0);
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
    });

    it('never lets one user hold more than 4 seats of a schedule, even with holds sent at once', async () => {
      const concert = await createConcert(env, [
        { seatCount: 1000, price: 1 },
        { seatCount: 10, price: 1 },
      ]);
      const [s1, s2] = concert.schedules.map((s) => s.id);
      const crowd = await users(env, 100);
      // Each user sends four 2-seat holds at once (to both processes in cluster mode): two win.
      const answers = await Promise.all(
        crowd.flatMap((u, i) =>
          [0, 1, 2, 3].map((k) =>
            hold(env, u.token, s1, [8 * i + 2 * k + 1, 8 * i + 2 * k + 2], {}, base(k)),
          ),
        ),
      );
      for (const [i] of crowd.entries()) {
        const mine = answers.slice(4 * i, 4 * i + 4);
        expect(mine.filter((a) => a.status === 201).length).toBe(2);
        for (const a of mine.filter((x) => x.status !== 201))
          expect([a.status, a.body.code]).toEqual([409, 'HOLD_LIMIT']);
      }
      const u = crowd[0];
      expect((await hold(env, u.token, s1, [999])).body.code).toBe('HOLD_LIMIT');
      // The limit is per schedule.
      expect((await hold(env, u.token, s2, [1, 2, 3, 4])).status).toBe(201);
      // A cancelled hold frees its seats and its share of the limit.
      const mineHeld = answers.slice(0, 4).find((a) => a.status === 201);
      const del = await send(env, 'DELETE', `/api/v1/reservations/${mineHeld?.body.reservationId}`, {
        token: u.token,
      });
      expect(del.status).toBe(204);
      expect((await hold(env, u.token, s1, [999, 1000])).status).toBe(201);
      const live = await one<{ n: number }>(
        env,
        `SELECT max(n)::int AS n FROM (SELECT count(*) AS n FROM schedule_seats
           WHERE status = 'HELD' AND hold_expires_at > now() GROUP BY schedule_id, holder_id) c`,
      );
      expect(live.n).toBeLessThanOrEqual(4);
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
    });
  });
}
