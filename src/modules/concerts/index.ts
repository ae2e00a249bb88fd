import { defineModule } from '../../kernel/module.js';
import { MemorySeatGate } from './memory-seat-gate.js';
import { RedisSeatGate } from './redis-seat-gate.js';
import { ConcertsRepository, type HoldRequest, type HoldResult } from './repository.js';
import { concertsRoutes } from './routes.js';
import { ConcertsService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    concerts: ConcertsService;
  }
}

/** How often the sweeper tidies expired holds (it decides nothing; see service.ts). */
const SWEEP_INTERVAL_MS = 1_000;

/**
 * Concert ticketing: schedules with numbered seats, holds shielded by the seat gate (memory in
 * embedded mode, Redis in cluster mode) and group-committed per schedule, exact in PostgreSQL;
 * payment with points in one transaction; a sweeper that tidies expired holds.
 */
export default defineModule({
  name: 'concerts',
  infra: [
    'postgres',
    'commits',
    'locks',
    'log',
    'config',
    'admissions',
    'redis',
    'keys',
    'metrics',
    'tracer',
  ],
  dependsOn: ['idempotency', 'waitingRooms'],
  prefix: '/api/v1',
  create({ infra, modules: { idempotency, waitingRooms } }) {
    const pool = infra.postgres();
    const repo = new ConcertsRepository(pool);
    const { holdSeconds, reconcileIntervalMs } = infra.config;
    const redis = infra.redis();
    const gate = redis ? new RedisSeatGate(redis, infra.keys) : new MemorySeatGate();
    const committer = infra.commits.keyed<HoldRequest, HoldResult>('seat-hold', (items, traceparents) =>
      repo.holdBatch(items, holdSeconds, traceparents),
    );
    const concerts = new ConcertsService(
      pool,
      repo,
      committer,
      idempotency,
      idempotency.repo,
      waitingRooms,
      infra.locks,
      infra.log,
      gate,
      infra.admissions.breaker,
      infra.metrics,
      {
        holdSeconds,
        tracer: infra.tracer,
        sweepIntervalMs: SWEEP_INTERVAL_MS,
        refreshMs: reconcileIntervalMs,
      },
    );
    return {
      service: concerts,
      routes: concertsRoutes(concerts),
      start: () => concerts.start(),
      close: () => concerts.close(),
      health: () => concerts.health(),
    };
  },
});
