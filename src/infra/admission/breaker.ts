/**
 * One circuit breaker for every admission gate of the process: the gates of all kinds of units
 * share one backend (Redis in cluster mode), so when it fails every kind falls back to its
 * PostgreSQL-only path together, and comes back together after a half-open probe succeeds.
 */
import type { FastifyBaseLogger } from 'fastify';
import { Breaker, DependencyUnavailable } from '../breaker.js';
import type { Metrics } from '../metrics.js';

export class GateBreaker {
  private readonly breaker: Breaker;

  constructor(
    private readonly metrics: Metrics,
    log: FastifyBaseLogger,
    private readonly gateKind: string,
  ) {
    this.breaker = new Breaker('gate', metrics, log);
  }

  get open(): boolean {
    return this.breaker.open;
  }

  /** Runs a gate call through the breaker; a failure is counted and surfaces as a rejection. */
  execute<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return this.breaker.execute(fn).catch((err: unknown) => {
      if (!(err instanceof DependencyUnavailable)) this.metrics.gateErrors.inc({ gate: this.gateKind, op });
      throw err;
    });
  }
}
