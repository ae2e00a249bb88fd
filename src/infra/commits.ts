/**
 * Hands out group committers configured from COMMIT_* settings, with their metrics hook, and
 * knows how much work all of them hold (`depth`): background loops (the outbox relay) yield while
 * the hot path is busy.
 */
import type { Config } from '../config.js';
import {
  type BatchExecutor,
  type CommitterOptions,
  GroupCommitter,
  KeyedGroupCommitter,
} from './group-committer.js';
import type { Metrics } from './metrics.js';
import { noopTracer, type Tracer } from './tracing.js';

export interface Commits {
  /** One committer; `name` labels its metrics. */
  single<I, R>(
    name: string,
    execute: BatchExecutor<I, R>,
    overrides?: Partial<CommitterOptions>,
  ): GroupCommitter<I, R>;
  /** One committer per key (a hot coupon never queues behind another's commits). */
  keyed<I, R>(
    name: string,
    execute: BatchExecutor<I, R>,
    overrides?: Partial<CommitterOptions>,
  ): KeyedGroupCommitter<I, R>;
  /** Items queued or in flight in every committer made here. */
  depth(): number;
}

export function createCommits(
  config: Pick<Config, 'commitMaxBatch' | 'commitMaxWaitMs' | 'commitConcurrency'>,
  metrics: Metrics,
  tracer: Tracer = noopTracer,
): Commits {
  const made: { depth: number }[] = [];
  const options = (name: string, overrides?: Partial<CommitterOptions>): CommitterOptions => ({
    name,
    maxBatch: config.commitMaxBatch,
    maxWaitMs: config.commitMaxWaitMs,
    concurrency: config.commitConcurrency,
    onBatch: metrics.commitObserver(name),
    tracer,
    ...overrides,
  });
  return {
    single(name, execute, overrides) {
      const c = new GroupCommitter(execute, options(name, overrides));
      made.push(c);
      return c;
    },
    keyed(name, execute, overrides) {
      const c = new KeyedGroupCommitter(execute, options(name, overrides));
      made.push(c);
      return c;
    },
    depth() {
      let d = 0;
      for (const c of made) d += c.depth;
      return d;
    },
  };
}
