/**
 * Load-generator health. A drill that cannot send on time measures itself, not the server, so
 * every window records the drill process's CPU (process.cpuUsage, as a fraction of one core —
 * the drill's JavaScript runs on one thread) and its event-loop delay (perf_hooks). The run is
 * INVALID when the generator was saturated for a sustained share of it:
 *   a window is saturated when its event-loop delay p99 > 100 ms or its CPU ≥ 95 % of one core;
 *   the run is invalid when saturated windows are ≥ 10 % of all windows and at least 2.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export const LOOP_DELAY_LIMIT_MS = 100;
export const CPU_LIMIT = 0.95;
export const SATURATED_SHARE_LIMIT = 0.1;
export const SATURATED_MIN_WINDOWS = 2;

export interface GeneratorWindow {
  cpu: number;
  loopP99: number;
  loopMax: number;
}

export interface GeneratorVerdict {
  valid: boolean;
  /** Human sentences; empty when valid. */
  reasons: string[];
  windows: number;
  saturatedWindows: number;
  cpuMax: number;
  cpuAvg: number;
  loopP99Max: number;
  loopMax: number;
  limits: { loopDelayP99Ms: number; cpuOfOneCore: number; saturatedShare: number };
}

export class GeneratorMonitor {
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();

  start(): void {
    this.loop.enable();
    this.lastCpu = process.cpuUsage();
    this.lastAt = performance.now();
  }

  /** Closes a window: CPU and event-loop delay since the previous call. */
  sample(): GeneratorWindow {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const wallUs = Math.max(1, (now - this.lastAt) * 1_000);
    const w: GeneratorWindow = {
      cpu: (cpu.user + cpu.system) / wallUs,
      loopP99: this.loop.count > 0 ? this.loop.percentile(99) / 1e6 : 0,
      loopMax: this.loop.count > 0 ? this.loop.max / 1e6 : 0,
    };
    this.loop.reset();
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    return w;
  }

  stop(): void {
    this.loop.disable();
  }
}

export function isSaturated(w: GeneratorWindow): boolean {
  return w.loopP99 > LOOP_DELAY_LIMIT_MS || w.cpu >= CPU_LIMIT;
}

export function judgeGenerator(windows: readonly GeneratorWindow[]): GeneratorVerdict {
  const saturated = windows.filter(isSaturated);
  const n = windows.length;
  const share = n ? saturated.length / n : 0;
  const valid = !(saturated.length >= SATURATED_MIN_WINDOWS && share >= SATURATED_SHARE_LIMIT);
  const highLoop = windows.filter((w) => w.loopP99 > LOOP_DELAY_LIMIT_MS).length;
  const highCpu = windows.filter((w) => w.cpu >= CPU_LIMIT).length;
  const reasons: string[] = [];
  const cpuAvg = n ? windows.reduce((s, w) => s + w.cpu, 0) / n : 0;
  if (!valid) {
    if (highLoop) {
      // Late timers with an idle CPU mean the process was not scheduled: other work owned the cores.
      const starved =
        cpuAvg < 0.5
          ? ` while the drill used only ${Math.round(cpuAvg * 100)}% of a core on average (starved by other processes on this machine)`
          : '';
      reasons.push(
        `event-loop delay p99 > ${LOOP_DELAY_LIMIT_MS} ms in ${highLoop} of ${n} seconds${starved}`,
      );
    }
    if (highCpu) reasons.push(`drill CPU ≥ ${CPU_LIMIT * 100}% of one core in ${highCpu} of ${n} seconds`);
  }
  return {
    valid,
    reasons,
    windows: n,
    saturatedWindows: saturated.length,
    cpuMax: n ? Math.max(...windows.map((w) => w.cpu)) : 0,
    cpuAvg,
    loopP99Max: n ? Math.max(...windows.map((w) => w.loopP99)) : 0,
    loopMax: n ? Math.max(...windows.map((w) => w.loopMax)) : 0,
    limits: {
      loopDelayP99Ms: LOOP_DELAY_LIMIT_MS,
      cpuOfOneCore: CPU_LIMIT,
      saturatedShare: SATURATED_SHARE_LIMIT,
    },
  };
}
