/**
 * Runs one iteration on a VU and records it as k6 does: `iterations` and `iteration_duration`
 * for iterations that ran to the end (even if the scenario threw: that is reported separately),
 * `interrupted_iterations` for those the drill aborted (graceful stop or ramp-down expired).
 * iteration_duration is measured from the scheduled start in the open model.
 */
import { performance } from 'node:perf_hooks';
import { RequestAborted } from '../http.js';
import type { VirtualUser } from '../vu.js';
import type { ExecutorEnv } from './types.js';

/** Hands out k6's exec.scenario.iterationInTest: 0, 1, 2, ... across all VUs. */
export class IterationCounter {
  private next = 0;
  take(): number {
    return this.next++;
  }
}

export async function runIteration(
  env: ExecutorEnv,
  counter: IterationCounter,
  vu: VirtualUser,
  scheduledStart?: number,
): Promise<void> {
  const started = performance.now();
  vu.iterationInTest = counter.take();
  vu.scheduledStart = scheduledStart;
  try {
    await env.iteration(vu);
  } catch (err) {
    if (err instanceof RequestAborted || vu.signal.aborted) {
      env.metrics.interruptedIterations.add(1);
      return;
    }
    env.onIterationError(err);
  }
  vu.scheduledStart = undefined;
  if (vu.signal.aborted) {
    // Cut short by the drill even if the scenario swallowed the abort (e.g. in a sleep).
    env.metrics.interruptedIterations.add(1);
    return;
  }
  env.metrics.iterations.add(1);
  env.metrics.iterationDuration.add(performance.now() - (scheduledStart ?? started));
}
