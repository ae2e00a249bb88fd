/**
 * k6's ramping-arrival-rate executor (open model): iterations START on a clock that follows the
 * stages (iterations per second), whether or not earlier ones have finished — as real users
 * arrive during a drop. Each due iteration takes a free VU; if none is free a new one is
 * allocated up to maxVUs; beyond that the iteration is not run and counts in dropped_iterations.
 *
 * Coordinated omission: the iteration's first request and its iteration_duration are timed from
 * the SCHEDULED start, and the gap between scheduled and actual start is iteration_start_lag. A
 * stall — in the server (VUs pile up, then drops) or in the generator (late timers) — therefore
 * shows up in the latency figures instead of silently thinning the load.
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { ArrivalSchedule, type Stage } from '../stages.js';
import type { VirtualUser } from '../vu.js';
import { settlesWithin } from '../wait.js';
import { IterationCounter, runIteration } from './run-iteration.js';
import type { Executor, ExecutorEnv, ExecutorReport, VuStatus } from './types.js';

export interface RampingArrivalRateConfig {
  /** Iterations per second at t=0. */
  startRate: number;
  /** Stage targets are iterations per second. */
  stages: readonly Stage[];
  preAllocatedVUs: number;
  maxVUs: number;
  gracefulStopMs: number;
}

/** The scheduler never sleeps longer than this, so a stop request is seen promptly. */
const MAX_NAP_MS = 50;

export class RampingArrivalRate implements Executor {
  readonly kind = 'ramping-arrival-rate' as const;
  readonly model = 'open' as const;
  readonly plannedDurationMs: number;
  private allocated = 0;
  private busy = 0;

  constructor(private readonly cfg: RampingArrivalRateConfig) {
    if (cfg.maxVUs < 1) throw new Error('maxVUs must be at least 1');
    this.plannedDurationMs = new ArrivalSchedule(cfg.startRate, cfg.stages).totalMs;
  }

  describe() {
    return {
      executor: this.kind,
      startRate: this.cfg.startRate,
      timeUnit: '1s',
      stages: this.cfg.stages.map((s) => ({ duration: `${s.durationMs / 1_000}s`, target: s.target })),
      preAllocatedVUs: this.cfg.preAllocatedVUs,
      maxVUs: this.cfg.maxVUs,
      gracefulStop: `${this.cfg.gracefulStopMs / 1_000}s`,
    };
  }

  status(): VuStatus {
    return { active: this.busy, allocated: this.allocated };
  }

  async run(env: ExecutorEnv): Promise<ExecutorReport> {
    const counter = new IterationCounter();
    const schedule = new ArrivalSchedule(this.cfg.startRate, this.cfg.stages);
    const free: VirtualUser[] = [];
    const all: VirtualUser[] = [];
    const allocate = () => {
      const vu = env.newVu(++this.allocated);
      all.push(vu);
      return vu;
    };
    const inflight = new Set<Promise<void>>();
    const preAllocated = Math.min(this.cfg.preAllocatedVUs, this.cfg.maxVUs);
    for (let i = 0; i < preAllocated; i++) free.push(allocate());

    const startedAt = performance.now();
    let stoppedEarly = false;
    for (;;) {
      if (env.stop.aborted) {
        stoppedEarly = schedule.peekNext() !== null;
        break;
      }
      const next = schedule.peekNext();
      if (next === null) break;
      const due = startedAt + next;
      const now = performance.now();
      if (due > now + 0.5) {
        await sleepMs(Math.min(MAX_NAP_MS, Math.max(1, due - now)));
        continue;
      }
      // Start every iteration that is due now (after a late wake-up there may be many).
      schedule.advance();
      let vu = free.pop();
      if (!vu && this.allocated < this.cfg.maxVUs) vu = allocate();
      if (!vu) {
        env.metrics.droppedIterations.add(1);
        continue;
      }
      const worker = vu;
      worker.revive();
      this.busy++;
      env.metrics.iterationStartLag.add(now - due);
      const p: Promise<void> = runIteration(env, counter, worker, due).finally(() => {
        this.busy--;
        free.push(worker);
        inflight.delete(p);
      });
      inflight.add(p);
    }

    // Graceful stop: iterations already started get gracefulStopMs to finish, then are interrupted.
    await settlesWithin(Promise.all([...inflight]), this.cfg.gracefulStopMs);
    // Aborting an idle VU is harmless: it is revived if it is ever used again.
    if (inflight.size) for (const vu of all) vu.abort();
    await Promise.all([...inflight]);
    return { startedAt, endedAt: performance.now(), stoppedEarly };
  }
}
