/**
 * k6's ramping-vus executor (closed model): the number of looping VUs follows the stages; each VU
 * runs iterations back to back with the scenario's think time between them. Throughput is an
 * OUTPUT here — it falls when latency rises — so its req/s is not the server's capacity and a
 * server stall slows the senders instead of showing up as latency (coordinated omission).
 *
 * Ramp-down: a VU above the target finishes its current iteration (up to gracefulRampDown, then it
 * is interrupted). End: after the last stage, running iterations get gracefulStop to finish.
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { maxOver, type Stage, totalDurationMs, valueAt } from '../stages.js';
import type { VirtualUser } from '../vu.js';
import { settlesWithin } from '../wait.js';
import { IterationCounter, runIteration } from './run-iteration.js';
import type { Executor, ExecutorEnv, ExecutorReport, VuStatus } from './types.js';

export interface RampingVusConfig {
  startVUs: number;
  stages: readonly Stage[];
  gracefulRampDownMs: number;
  gracefulStopMs: number;
  /** Pause between a VU's iterations (k6 scripts' sleep()); gets the VU's rng. */
  thinkTimeMs: (rng: () => number) => number;
  /** How often the VU target is re-evaluated. */
  tickMs?: number;
}

interface Slot {
  vu: VirtualUser;
  /** Below the current target: should keep looping. */
  wanted: boolean;
  /** The loop promise while the VU is running. */
  loop: Promise<void> | null;
  /** Interrupts think time (not the iteration) when the VU is no longer wanted. */
  nap: AbortController;
  /** performance.now() after which an unwanted VU's iteration is interrupted. */
  deadline: number;
}

export class RampingVus implements Executor {
  readonly kind = 'ramping-vus' as const;
  readonly model = 'closed' as const;
  readonly plannedDurationMs: number;
  private readonly slots: Slot[] = [];

  constructor(private readonly cfg: RampingVusConfig) {
    this.plannedDurationMs = totalDurationMs(cfg.stages);
  }

  describe() {
    return {
      executor: this.kind,
      startVUs: this.cfg.startVUs,
      stages: this.cfg.stages.map((s) => ({ duration: `${s.durationMs / 1_000}s`, target: s.target })),
      gracefulRampDown: `${this.cfg.gracefulRampDownMs / 1_000}s`,
      gracefulStop: `${this.cfg.gracefulStopMs / 1_000}s`,
    };
  }

  status(): VuStatus {
    let active = 0;
    for (const s of this.slots) if (s.wanted || s.loop) active++;
    return { active, allocated: this.slots.length };
  }

  async run(env: ExecutorEnv): Promise<ExecutorReport> {
    const counter = new IterationCounter();
    const tick = this.cfg.tickMs ?? 50;
    const startedAt = performance.now();

    const loopOf = (slot: Slot) => async () => {
      while (slot.wanted) {
        // A VU interrupted at its ramp-down deadline and wanted again starts with a fresh signal.
        slot.vu.revive();
        await runIteration(env, counter, slot.vu);
        if (!slot.wanted) break;
        const pause = this.cfg.thinkTimeMs(slot.vu.rng);
        if (pause > 0) await sleepMs(pause, undefined, { signal: slot.nap.signal }).catch(() => {});
      }
    };
    const startLoop = (slot: Slot) => {
      slot.vu.revive();
      if (slot.nap.signal.aborted) slot.nap = new AbortController();
      slot.loop = loopOf(slot)().finally(() => {
        slot.loop = null;
      });
    };

    let stoppedEarly = false;
    let lastT = 0;
    for (;;) {
      const now = performance.now();
      const t = now - startedAt;
      if (env.stop.aborted) {
        stoppedEarly = t < this.plannedDurationMs;
        break;
      }
      if (t >= this.plannedDurationMs) break;
      const target = Math.floor(valueAt(this.cfg.startVUs, this.cfg.stages, t) + 1e-9);
      // A peak reached between two ticks still starts its VUs (they ramp down right after).
      const reached = Math.floor(maxOver(this.cfg.startVUs, this.cfg.stages, lastT, t) + 1e-9);
      lastT = t;
      for (let i = 0; i < Math.max(reached, this.slots.length); i++) {
        let slot = this.slots[i];
        if (!slot) {
          slot = { vu: env.newVu(i + 1), wanted: false, loop: null, nap: new AbortController(), deadline: 0 };
          this.slots.push(slot);
        }
        if (i < target) {
          if (!slot.wanted) {
            slot.wanted = true;
            // A VU still finishing its ramp-down iteration simply keeps looping.
            if (!slot.loop) startLoop(slot);
          }
          continue;
        }
        if (i < reached && !slot.wanted && !slot.loop) {
          // The curve peaked between two ticks: this VU runs one iteration, then ramps down.
          slot.wanted = true;
          startLoop(slot);
        }
        if (slot.wanted) {
          // Above the target: finish the current iteration, within gracefulRampDown.
          slot.wanted = false;
          slot.nap.abort();
          slot.deadline = now + this.cfg.gracefulRampDownMs;
        } else if (slot.loop && now > slot.deadline) {
          slot.vu.abort();
        }
      }
      await sleepMs(tick);
    }

    // Graceful stop: no new iterations; running ones get gracefulStopMs, then are interrupted.
    for (const slot of this.slots) {
      slot.wanted = false;
      slot.nap.abort();
    }
    const running = () => this.slots.filter((s) => s.loop).map((s) => s.loop as Promise<void>);
    await settlesWithin(Promise.all(running()), this.cfg.gracefulStopMs);
    for (const slot of this.slots) if (slot.loop) slot.vu.abort();
    await Promise.all(running());
    return { startedAt, endedAt: performance.now(), stoppedEarly };
  }
}
