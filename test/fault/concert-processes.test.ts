/**
 * Concert holds under faults, with real server processes on one PostgreSQL + Redis (cluster mode):
 *   - kill -9 one of two processes mid-burst of holds and pays, restart it → every 201 hold and
 *     200 pay the clients saw is in PostgreSQL, no seat is held or sold twice, and once the holds'
 *     time is up every unsold seat can be held again through either process (none stuck held);
 *   - a schedule's seat-gate keys deleted mid-burst → rebuilt from PostgreSQL, still exact, and the
 *     rebuilt gate refuses exactly the seats that are sold.
 * An in-process server on the same database sets up (users, points, concerts) and audits.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKeys } from '../../src/infra/redis/keys.js';
import { createConcert, hold, NO_VIOLATIONS, pay, seatAudit } from '../commerce/concert-support.js';
import { chargeAll, type Env, startEnv, type TestUser, users } from '../commerce/support.js';
import { ADMIN_TOKEN, clusterAvailable, JWT_SECRET } from '../support/harness.js';
import { type ServerProcess, spawnServer } from '../support/process.js';

const HOLD_SECONDS = 6;

interface Outcome {
  user: TestUser;
  seats: number[];
  /** 0: no answer (the process died with the request). */
  hold: number;
  reservationId?: string;
  pay?: number;
}

describe.skipIf(!clusterAvailable())('concert holds with real processes (cluster)', () => {
  let env: Env;
  let people: TestUser[];
  let procEnv: Record<string, string>;
  const procs: ServerProcess[] = [];

  beforeAll(async () => {
    env = await startEnv('cluster', { holdSeconds: HOLD_SECONDS });
    procEnv = {
      DATABASE_URL: env.db.url,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: env.db.redisPrefix,
      ADMIN_TOKEN,
      JWT_SECRET,
      HOLD_SECONDS: String(HOLD_SECONDS),
      RECONCILE_INTERVAL_MS: '250',
    };
    procs.push(await spawnServer(procEnv), await spawnServer(procEnv));
    people = await users(env, 1_600);
    await chargeAll(env, people, 1_000);
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) await p.kill('SIGKILL');
    await env?.close();
  });

  /** Each user holds 1–2 random seats through a process, and pays at once when `payShare` says so. */
  function burst(
    scheduleId: string,
    seatCount: number,
    who: TestUser[],
    bases: () => string[],
    payShare = 0.5,
  ) {
    return Promise.all(
      who.map(async (user, i): Promise<Outcome> => {
        const a = 1 + Math.floor(Math.random() * seatCount);
        const b = 1 + Math.floor(Math.random() * seatCount);
        const seats = a === b || Math.random() < 0.5 ? [a] : [a, b];
        const list = bases();
        const base = list[i % list.length];
        const out: Outcome = { user, seats, hold: 0 };
        try {
          const h = await hold(env, user.token, scheduleId, seats, {}, base);
          out.hold = h.status;
          if (h.status === 201) {
            out.reservationId = h.body.reservationId;
            if (Math.random() < payShare) {
              out.pay = 0;
              out.pay = (await pay(env, user.token, h.body.reservationId, {}, base)).status;
            }
          }
        } catch {
          // The connection died with the process: no answer.
        }
        return out;
      }),
    );
  }

  /** Every acknowledged hold and pay is in PostgreSQL, as answered; the seat invariants hold. */
  async function auditAcknowledged(outcomes: Outcome[]): Promise<void> {
    const { rows } = await env.sql.query<{ id: string; seats: number[]; status: string; user_id: string }>(
      'SELECT id::text, seats, status, user_id::text FROM seat_reservations',
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const o of outcomes) {
      expect([0, 201, 409, 503]).toContain(o.hold);
      if (o.hold !== 201) continue;
      const row = byId.get(o.reservationId as string);
      expect(row, `201 hold ${o.reservationId} is in PostgreSQL`).toBeDefined();
      expect(row?.seats).toEqual([...o.seats].sort((x, y) => x - y));
      expect(row?.user_id).toBe(o.user.id);
      if (o.pay === 200) expect(row?.status).toBe('PAID');
    }
    expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
  }

  it('survives kill -9 of one process mid-burst: every acknowledged hold and pay durable, no seat stuck held', async () => {
    const seatCount = 200;
    const concert = await createConcert(env, [{ seatCount, price: 10 }]);
    const s = concert.schedules[0].id;
    const victim = procs[1];
    let killed = false;
    const burstP = burst(s, seatCount, people.slice(0, 1_000), () =>
      killed ? [procs[0].url] : procs.map((p) => p.url),
    );
    await new Promise((r) => setTimeout(r, 150));
    victim.child.kill('SIGKILL');
    killed = true;
    await victim.exited;
    const outcomes = await burstP;
    expect(outcomes.some((o) => o.hold === 201)).toBe(true);
    expect(outcomes.some((o) => o.hold === 0)).toBe(true); // the kill really landed mid-burst
    await auditAcknowledged(outcomes);

    procs[1] = await spawnServer(procEnv, victim.port);
    // Once every hold's time is up, each seat not sold can be held again, through either process.
    const { rows: sold } = await env.sql.query<{ n: number }>(
      'SELECT seat_number AS n FROM sold_seats WHERE schedule_id = $1',
      [s],
    );
    const soldSeats = new Set(sold.map((r) => r.n));
    await new Promise((r) => setTimeout(r, HOLD_SECONDS * 1_000 + 500));
    const fresh = people.slice(1_000, 1_000 + seatCount);
    const again = await Promise.all(
      fresh.map((u, i) => hold(env, u.token, s, [i + 1], {}, procs[i % 2].url)),
    );
    for (const [i, r] of again.entries()) {
      if (soldSeats.has(i + 1)) expect([r.status, r.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);
      else expect(r.status, `seat ${i + 1} is free again`).toBe(201);
    }
    expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
  });

  it('rebuilds a schedule’s seat gate from PostgreSQL when its keys are deleted mid-burst, and stays exact', async () => {
    const seatCount = 100;
    const concert = await createConcert(env, [{ seatCount, price: 10 }]);
    const s = concert.schedules[0].id;
    const r = new Redis(inject('redisUrl'));
    const k = createKeys(env.db.redisPrefix).seatGate(s);
    try {
      const burstP = burst(s, seatCount, people.slice(1_200, 1_600), () => procs.map((p) => p.url), 1);
      for (let i = 0; i < 3; i++) {
        await new Promise((res) => setTimeout(res, 40));
        await r.del(k.loaded, k.seats, k.holders);
      }
      const outcomes = await burstP;
      for (const o of outcomes) expect([201, 409]).toContain(o.hold);
      await auditAcknowledged(outcomes);

      // Every winner paid at once; once the holds' time is up (a pay may have come too late), the
      // rebuilt gate refuses exactly the seats sold, and every other seat can be held.
      const { rows: sold } = await env.sql.query<{ n: number }>(
        'SELECT seat_number AS n FROM sold_seats WHERE schedule_id = $1',
        [s],
      );
      const taken = new Set(sold.map((row) => row.n));
      const paid = outcomes.filter((o) => o.pay === 200).flatMap((o) => o.seats);
      expect(paid.length).toBeGreaterThan(0);
      for (const seat of paid) expect(taken.has(seat)).toBe(true);
      await new Promise((res) => setTimeout(res, HOLD_SECONDS * 1_000 + 500));
      const probe = await Promise.all(
        Array.from({ length: seatCount }, (_, i) =>
          hold(env, people[i].token, s, [i + 1], {}, procs[i % 2].url),
        ),
      );
      for (const [i, res] of probe.entries()) {
        if (taken.has(i + 1)) expect([res.status, res.body.code]).toEqual([409, 'SEAT_UNAVAILABLE']);
        else expect(res.status, `seat ${i + 1}`).toBe(201);
      }
      expect(await r.exists(k.loaded)).toBe(1);
      expect(await seatAudit(env)).toEqual(NO_VIOLATIONS);
    } finally {
      r.disconnect();
    }
  });
});
