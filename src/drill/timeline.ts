/**
 * Per-second samples of a run, for the live progress line and the report's charts. Each sample
 * covers the window since the previous one: requests completed in it, their latency percentiles
 * (from a per-window HDR histogram, reset after every sample), responses by status code, and a
 * snapshot of the cumulative counters (business outcomes, dropped iterations, ...).
 */
import type { Histogram } from 'hdr-histogram-js';
import type { GeneratorWindow } from './health.js';
import { microsecondHistogram } from './metrics.js';

export interface Sample {
  /** Seconds since the scenario started, at the end of this window. */
  t: number;
  /** Active VUs (busy VUs for the open model) and allocated VUs at the end of the window. */
  vus: number;
  vusMax: number;
  /** Responses completed in this window, and per second. */
  reqs: number;
  rps: number;
  /** Responses counted as http_req_failed in this window. */
  failed: number;
  /** http_req_duration percentiles of this window, in ms (0 when no response completed). */
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
  /** Responses in this window by status code ("0" = no response: timeout or network error). */
  status: Record<string, number>;
  /** Cumulative counters at the end of this window (business outcomes, dropped_iterations...). */
  counters: Record<string, number>;
  /** Load generator during this window: CPU as a fraction of one core, event-loop delay in ms. */
  cpu: number;
  loopP99: number;
  loopMax: number;
}

export class Timeline {
  readonly samples: Sample[] = [];
  private window: Histogram = microsecondHistogram();
  private reqs = 0;
  private failed = 0;
  private status: Record<string, number> = {};
  private lastT = 0;

  /** Records one completed request. */
  record(status: number, durationMs: number, failed: boolean): void {
    this.window.recordValue(Math.max(1, Math.round(durationMs * 1_000)));
    this.reqs++;
    if (failed) this.failed++;
    const key = String(status);
    this.status[key] = (this.status[key] ?? 0) + 1;
  }

  /** Closes the current window at `t` seconds and starts the next one. */
  close(
    t: number,
    vus: { active: number; allocated: number },
    counters: Record<string, number>,
    gen: GeneratorWindow,
  ): Sample {
    const dt = Math.max(1e-3, t - this.lastT);
    const pct = (p: number) => (this.reqs ? this.window.getValueAtPercentile(p) / 1_000 : 0);
    const sample: Sample = {
      t: Math.round(t * 1_000) / 1_000,
      vus: vus.active,
      vusMax: vus.allocated,
      reqs: this.reqs,
      rps: this.reqs / dt,
      failed: this.failed,
      p50: pct(50),
      p90: pct(90),
      p95: pct(95),
      p99: pct(99),
      max: this.reqs ? this.window.maxValue / 1_000 : 0,
      status: this.status,
      counters,
      cpu: gen.cpu,
      loopP99: gen.loopP99,
      loopMax: gen.loopMax,
    };
    this.samples.push(sample);
    this.window.reset();
    this.reqs = 0;
    this.failed = 0;
    this.status = {};
    this.lastT = t;
    return sample;
  }
}
