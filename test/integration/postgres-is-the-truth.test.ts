/**
 * The gate is a shield, not the truth: even a gate that lies (lets everyone through, forgets who
 * holds what) cannot make PostgreSQL oversell or issue twice. This is what keeps exactness through
 * lost Redis keys, stale gates after an outage, and the PostgreSQL-only fallback.
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AdmissionGate,
  createAdmissions,
  MemoryAdmissionGate,
} from '../../src/infra/admission/index.js';
import { createCommits } from '../../src/infra/commits.js';
import { processLocks } from '../../src/infra/locks.js';
import { Metrics } from '../../src/infra/metrics.js';
import { migrate } from '../../src/infra/postgres/migrate.js';
import { createPool, type Pool } from '../../src/infra/postgres/pool.js';
import { createKeys } from '../../src/infra/redis/keys.js';
import { noopTracer } from '../../src/infra/tracing.js';
import { CouponsRepository } from '../../src/modules/coupons/repository.js';
import { CouponsService, couponUnits } from '../../src/modules/coupons/service.js';
import { UsersRepository } from '../../src/modules/users/repository.js';
import { createDatabaseFor, type TestDatabase } from '../support/harness.js';

class LyingGate extends MemoryAdmissionGate implements AdmissionGate {
  override async reserve(): Promise<'RESERVED'> {
    return 'RESERVED';
  }
}

describe('PostgreSQL is exact on its own', () => {
  let db: TestDatabase;
  let pool: Pool;
  let userIds: string[];
  const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    await migrate(db.url);
    pool = createPool(db.url, 20);
    userIds = (
      await new UsersRepository(pool).createMany(Array.from({ length: 3000 }, (_, i) => `u${i}`))
    ).map((u) => u.id);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('issues exactly the quantity through a gate that lets everyone through, with duplicates in the same batch', async () => {
    const repo = new CouponsRepository(pool);
    const metrics = new Metrics();
    const commits = createCommits({ commitMaxBatch: 200, commitMaxWaitMs: 1, commitConcurrency: 4 }, metrics);
    const admissions = createAdmissions({
      config: { reconcileAfterMs: 30_000, reconcileIntervalMs: 2_000 },
      metrics,
      log,
      redis: null,
      keys: createKeys('t:'),
      locks: processLocks,
      tracer: noopTracer,
      commits,
    });
    const admission = admissions.protocol(couponUnits(repo), { gate: new LyingGate() });
    const service = new CouponsService(repo, admission, metrics);
    const coupon = await service.create({
      name: 'lie',
      discountType: 'AMOUNT',
      discountValue: 1,
      quantity: 700,
      startsAt: null,
      endsAt: null,
      validDays: null,
      waitingRoomId: null,
    });
    const attempts = [...userIds, ...userIds.slice(0, 1500)];
    const settled = await Promise.allSettled(attempts.map((u) => service.issue(coupon.id, u)));
    const ok = settled.filter((s) => s.status === 'fulfilled');
    const codes = settled.flatMap((s) =>
      s.status === 'rejected' ? [(s.reason as { code: string }).code] : [],
    );
    expect(ok).toHaveLength(700);
    expect(new Set(codes)).toEqual(new Set(['ALREADY_ISSUED', 'SOLD_OUT']));
    const rows = await pool.query(
      'SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS d FROM user_coupons',
    );
    expect(rows.rows[0]).toEqual({ n: 700, d: 700 });
    await admission.close();
  });

  it('rejects an oversell even if the application asked for it (CHECK issued_count <= quantity)', async () => {
    const c = await pool.query(
      "INSERT INTO coupons (name, discount_type, discount_value, quantity) VALUES ('c', 'AMOUNT', 1, 1) RETURNING id",
    );
    await expect(
      pool.query('UPDATE coupons SET issued_count = 2 WHERE id = $1', [c.rows[0].id]),
    ).rejects.toThrow(/check constraint/);
  });
});
