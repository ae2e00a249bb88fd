/**
 * One circuit breaker for every admission gate of the process: the gates of all kinds of units
 * share one backend (Redis in cluster mode), so when it fails every kind falls back to its
 * PostgreSQL-only path together, and comes back together after a half-open probe succeeds.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../metrics.js';

export class GateBreaker {
  private readonly policy = circuitBreaker(handleAll, {
    halfOpenAfter: 2_000,
    breaker: new ConsecutiveBreaker(3),
  });

  constructor(
    private readonly metrics: Metrics,
    log: FastifyBaseLogger,
    private readonly gateKind: string,
  ) {
    const state = (s: CircuitState) => (s === CircuitState.Closed ? 0 : s === CircuitState.HalfOpen ? 1 : 2);
    metrics.breakerState.set({ breaker: 'gate' }, 0);
    this.policy.onStateChange((s) => {
      metrics.breakerState.set({ breaker: 'gate' }, state(s));
      log.warn({ breaker: 'gate', state: CircuitState[s] }, 'gate circuit breaker changed state');
    });
  }

  get open(): boolean {
    return this.policy.state === CircuitState.Open || this.policy.state === CircuitState.Isolated;
  }

  /** Runs a gate call through the breaker; a failure is counted and surfaces as a rejection. */
  execute<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return this.policy.execute(fn).catch((err: unknown) => {
      if (!(err instanceof BrokenCircuitError)) this.metrics.gateErrors.inc({ gate: this.gateKind, op });
      throw err;
    });
  }
}

export { BrokenCircuitError };
