/**
 * The seat gate only saves work: with a gate that lets every hold through (as a lost, stale or
 * broken gate might), PostgreSQL alone still never holds or sells a seat twice and never lets a
 * user hold more than 4 seats of a schedule. Three concert services (three "processes", each with
 * its own group committer running several commits at once) share one real database.
 */
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GateBreaker } from '../../src/infra/admission/breaker.js';
import { KeyedGroupCommitter } from '../../src/infra/group-committer.js';
import { processLocks } from '../../src/infra/locks.js';
import { Metrics } from '../../src/infra/metrics.js';
import { migrate } from '../../src/infra/postgres/migrate.js';
import { createPool } from '../../src/infra/postgres/pool.js';
import {
  ConcertsRepository,
  type HoldRequest,
  type HoldResult,
} from '../../src/modules/concerts/repository.js';
import type { SeatGate } from '../../src/modules/concerts/seat-gate.js';
import { ConcertsService } from '../../src/modules/concerts/service.js';
import { IdempotencyRepository } from '../../src/modules/idempotency/repository.js';
import { IdempotencyService } from '../../src/modules/idempotency/service.js';
import { createDatabaseFor, type TestDatabase } from '../support/harness.js';

/** A gate that clears everything and remembers nothing. */
const letsEverythingThrough: SeatGate = {
  kind: 'memory',
  check: async () => ({ outcome: 'CLEAR' }),
  settle: async () => {},
  load: async () => {},
  evict: async () => {},
};

const quiet = {
  level: 'silent',
  fatal() {},
  error() {},
  warn() {},
  info() {},
  debug() {},
  trace() {},
  silent() {},
  child() {
    return quiet;
  },
} as unknown as FastifyBaseLogger;

describe('holds with a gate that lets everything through', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let services: ConcertsService[];
  let userIds: string[];

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    await migrate(db.url);
    pool = createPool(db.url, 12);
    const { rows } = await pool.query<{ id: string }>(
      "INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 600) g RETURNING id::text AS id",
    );
    userIds = rows.map((r) => r.id);
    const metrics = new Metrics();
    services = [1, 2, 3].map(() => {
      const repo = new ConcertsRepository(pool);
      const committer = new KeyedGroupCommitter<HoldRequest, HoldResult>(
        (items) => repo.holdBatch(items, 300),
        {
          name: 'seat-hold-test',
          maxBatch: 50,
          maxWaitMs: 1,
          concurrency: 3,
        },
      );
      const idempotency = new IdempotencyService(new IdempotencyRepository(pool), metrics);
      const rooms = {
        room: async () => {
          throw new Error('no rooms here');
        },
        checkPass: async () => {},
        complete: async () => {},
      };
      return new ConcertsService(
        pool,
        repo,
        committer,
        idempotency,
        idempotency.repo,
        rooms as never,
        processLocks,
        quiet,
        letsEverythingThrough,
        new GateBreaker(metrics, quiet, 'memory'),
        metrics,
        { holdSeconds: 300, sweepIntervalMs: 1_000, refreshMs: 2_000 },
      );
    });
  });
  afterAll(async () => {
    for (const s of services ?? []) await s.close();
    await pool?.end();
    await db?.drop();
  });

  it('still holds and sells each of 50 seats at most once, and at most 4 per user, under 600 holds at once', async () => {
    const concert = await services[0].create({
      name: 'no gate',
      venue: null,
      waitingRoomId: null,
      schedules: [{ startsAt: new Date('2030-01-01T00:00:00Z'), seatCount: 50, price: 0 }],
    });
    const scheduleId = concert.schedules[0].id;
    // 300 users once (1–2 seats), and 100 of them three more times (2 seats each): the limit is hit.
    const attempts = [
      ...userIds.slice(0, 300).map((u) => ({ u, seats: pick(1 + Math.floor(Math.random() * 2)) })),
      ...userIds.slice(0, 100).flatMap((u) => [1, 2, 3].map(() => ({ u, seats: pick(2) }))),
    ];
    const answers = await Promise.allSettled(
      attempts.map((a, i) => services[i % 3].hold(a.u, { scheduleId, seats: a.seats }, undefined, null)),
    );
    const held: { u: string; reservationId: string; seats: number[] }[] = [];
    for (const [i, a] of answers.entries()) {
      if (a.status === 'fulfilled') {
        held.push({ u: attempts[i].u, ...(a.value.body as { reservationId: string; seats: number[] }) });
      } else {
        expect(['SEAT_UNAVAILABLE', 'HOLD_LIMIT']).toContain((a.reason as { code?: string }).code);
      }
    }
    const seats = held.flatMap((h) => h.seats);
    expect(new Set(seats).size).toBe(seats.length);
    expect(seats.length).toBeGreaterThan(0);
    const perUser = new Map<string, number>();
    for (const h of held) perUser.set(h.u, (perUser.get(h.u) ?? 0) + h.seats.length);
    expect(Math.max(...perUser.values())).toBeLessThanOrEqual(4);

    // Everyone pays at once (free seats: no points needed), through all three services.
    const pays = await Promise.allSettled(
      held.map((h, i) => services[(i + 1) % 3].pay(h.reservationId, h.u, null)),
    );
    for (const p of pays) expect(p.status).toBe('fulfilled');
    const sold = await pool.query<{ n: number; d: number }>(
      'SELECT count(*)::int AS n, count(DISTINCT seat_number)::int AS d FROM sold_seats WHERE schedule_id = $1',
      [scheduleId],
    );
    expect(sold.rows[0]).toEqual({ n: seats.length, d: seats.length });
  });
});

/** n distinct seat numbers of 1..50. */
function pick(n: number): number[] {
  const out = new Set<number>();
  while (out.size < n) out.add(1 + Math.floor(Math.random() * 50));
  return [...out];
}
