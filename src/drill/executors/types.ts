/**
 * What an executor is given and what it reports. Executors decide WHEN iterations run (k6
 * semantics); scenarios decide WHAT an iteration does.
 */
import type { BuiltinMetrics } from '../metrics.js';
import type { IterationFn, VirtualUser } from '../vu.js';

export type ExecutorKind = 'ramping-vus' | 'ramping-arrival-rate';

export interface ExecutorEnv {
  iteration: IterationFn;
  /** Creates VU number `id` (1-based). */
  newVu(id: number): VirtualUser;
  metrics: BuiltinMetrics;
  /** Aborted when the operator stops the run early (Ctrl-C): the executor stops gracefully. */
  stop: AbortSignal;
  /** An iteration threw something other than the drill's own abort. */
  onIterationError(err: unknown): void;
}

export interface VuStatus {
  /** VUs running an iteration or looping (closed model) / busy VUs (open model). */
  active: number;
  /** VUs allocated so far. */
  allocated: number;
}

export interface ExecutorReport {
  /** performance.now() at the scenario start and end (end = after graceful stop). */
  startedAt: number;
  endedAt: number;
  /** True when the stop signal cut the schedule short. */
  stoppedEarly: boolean;
}

export interface Executor {
  readonly kind: ExecutorKind;
  /** closed: VUs loop, throughput follows latency. open: iterations start on a clock. */
  readonly model: 'closed' | 'open';
  /** Scheduled duration, without graceful stop. */
  readonly plannedDurationMs: number;
  /** A plain-object description for the summary (k6 option names). */
  describe(): Record<string, unknown>;
  status(): VuStatus;
  run(env: ExecutorEnv): Promise<ExecutorReport>;
}
