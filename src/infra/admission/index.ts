/**
 * The admission factory: builds an AdmissionProtocol for a kind of unit with the gate of this
 * process's mode (memory in embedded mode, Redis in cluster mode, keys from the kind's name), the
 * process's one gate breaker, and a keyed group committer configured from COMMIT_* settings.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.js';
import type { Commits } from '../commits.js';
import type { Locks } from '../locks.js';
import type { Metrics } from '../metrics.js';
import type { RedisClient } from '../redis/client.js';
import type { Keys } from '../redis/keys.js';
import type { Tracer } from '../tracing.js';
import { GateBreaker } from './breaker.js';
import type { AdmissionGate } from './gate.js';
import { MemoryAdmissionGate } from './memory-gate.js';
import { AdmissionProtocol, type UnitKind } from './protocol.js';
import { RedisAdmissionGate } from './redis-gate.js';

export interface Admissions {
  /** The process's one gate breaker, for gates of another shape than AdmissionGate (seats). */
  readonly breaker: GateBreaker;
  /** The protocol for one kind of unit; `gate` overrides the mode's gate (tests, fault drills). */
  protocol<Req, Res>(
    kind: UnitKind<Req, Res>,
    options?: { gate?: AdmissionGate },
  ): AdmissionProtocol<Req, Res>;
}

export interface AdmissionsDeps {
  config: Pick<Config, 'reconcileAfterMs' | 'reconcileIntervalMs'>;
  metrics: Metrics;
  log: FastifyBaseLogger;
  redis: RedisClient | null;
  keys: Keys;
  locks: Locks;
  tracer: Tracer;
  commits: Commits;
}

export function createAdmissions(deps: AdmissionsDeps): Admissions {
  const breaker = new GateBreaker(deps.metrics, deps.log, deps.redis ? 'redis' : 'memory');
  return {
    breaker,
    protocol(kind, options) {
      const { redis, keys } = deps;
      const gate =
        options?.gate ??
        (redis ? new RedisAdmissionGate(redis, keys.units(kind.unit)) : new MemoryAdmissionGate());
      const committer = deps.commits.keyed(
        kind.committer,
        (items: Parameters<typeof kind.store.commitBatch>[0], traceparents) =>
          kind.store.commitBatch(items, traceparents),
      );
      return new AdmissionProtocol(
        kind,
        gate,
        committer,
        { breaker, metrics: deps.metrics, log: deps.log, locks: deps.locks, tracer: deps.tracer },
        { staleAfterMs: deps.config.reconcileAfterMs, intervalMs: deps.config.reconcileIntervalMs },
      );
    },
  };
}

export type { AdmissionGate, GateSnapshot, ReserveOutcome, SettleOutcome } from './gate.js';
export { MemoryAdmissionGate } from './memory-gate.js';
export {
  type Admission,
  AdmissionProtocol,
  CommitFailedError,
  type UnitKind,
  type UnitStore,
} from './protocol.js';
export { RedisAdmissionGate } from './redis-gate.js';
