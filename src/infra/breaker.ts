/**
 * Circuit breakers around the process's dependencies (cockatiel underneath): after `failures`
 * consecutive failures that count, the circuit opens and every call fails at once with
 * DependencyUnavailable instead of waiting on a dependency that is down; after `halfOpenAfterMs`
 * one call is let through as a probe, and its success closes the circuit again.
 *
 * Each breaker's state is the gauge stampede_breaker_state{breaker} (0 closed, 1 half-open,
 * 2 open) and is named in /readyz by the module that owns the dependency.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from './metrics.js';

export type BreakerState = 'closed' | 'half-open' | 'open';

/** A call refused because the dependency's circuit is open (or half-open with its probe out). */
export class DependencyUnavailable extends Error {
  override name = 'DependencyUnavailable';
  constructor(
    readonly dependency: string,
    readonly retryAfterSeconds: number,
  ) {
    super(`${dependency} is unavailable (circuit open); retry in ${retryAfterSeconds} s`);
  }
}

export interface BreakerOptions {
  /** Consecutive counted failures that open the circuit. Default 3. */
  failures?: number;
  /** How long the circuit stays open before one probe goes through, ms. Default 2,000. */
  halfOpenAfterMs?: number;
  /** Which failures count (default: all). Others pass through and leave the state alone. */
  counts?: (err: unknown) => boolean;
}

export class Breaker {
  private readonly policy;
  private readonly retryAfterSeconds: number;

  constructor(
    readonly name: string,
    metrics: Metrics,
    log: FastifyBaseLogger,
    opts: BreakerOptions = {},
  ) {
    const halfOpenAfter = opts.halfOpenAfterMs ?? 2_000;
    this.retryAfterSeconds = Math.max(1, Math.ceil(halfOpenAfter / 1_000));
    this.policy = circuitBreaker(
      handleWhen((err) => opts.counts?.(err) ?? true),
      { halfOpenAfter, breaker: new ConsecutiveBreaker(opts.failures ?? 3) },
    );
    metrics.breakerState.set({ breaker: name }, 0);
    this.policy.onStateChange((s) => {
      metrics.breakerState.set(
        { breaker: name },
        s === CircuitState.Closed ? 0 : s === CircuitState.HalfOpen ? 1 : 2,
      );
      log.warn({ breaker: name, state: CircuitState[s] }, `${name} circuit breaker changed state`);
    });
  }

  get state(): BreakerState {
    switch (this.policy.state) {
      case CircuitState.Closed:
        return 'closed';
      case CircuitState.HalfOpen:
        return 'half-open';
      default:
        return 'open';
    }
  }

  get open(): boolean {
    return this.state === 'open';
  }

  /** Runs `fn` through the circuit; an open circuit rejects with DependencyUnavailable at once. */
  execute<T>(fn: () => Promise<T>): Promise<T> {
    return this.policy
      .execute(() => fn())
      .catch((err: unknown) => {
        throw err instanceof BrokenCircuitError
          ? new DependencyUnavailable(this.name, this.retryAfterSeconds)
          : err;
      });
  }
}
