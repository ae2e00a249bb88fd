/**
 * Per-second samples of a run, for the live progress line and the report's charts. Each sample
 * covers the window since the previous one: requests completed in it, their latency percentiles
 * (from a per-window HDR histogram, reset after every sample), responses by status code, and a
 * snapshot of the cumulative counters (business outcomes, dropped iterations, ...).
 * period() sums up the windows closed since its previous call, for progress lines printed less
 * often than once per second.
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

/** The requests of the windows closed since the previous period() call (or the start). */
export interface Period {
  /** Seconds covered: from the end of the previous period to the end of the last closed window. */
  seconds: number;
  reqs: number;
  /** reqs / seconds (0 when no time passed). */
  rps: number;
  failed: number;
  /** http_req_duration p95 over the whole period, in ms (0 when no response completed). */
  p95: number;
}

export class Timeline {
  readonly samples: Sample[] = [];
  private window: Histogram = microsecondHistogram();
  private reqs = 0;
  private failed = 0;
  private status: Record<string, number> = {};
  private lastT = 0;
  private readonly span: Histogram = microsecondHistogram();
  private spanReqs = 0;
  private spanFailed = 0;
  private spanStart = 0;

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
    if (this.reqs) this.span.add(this.window);
    this.spanReqs += this.reqs;
    this.spanFailed += this.failed;
    this.window.reset();
    this.reqs = 0;
    this.failed = 0;
    this.status = {};
    this.lastT = t;
    return sample;
  }

  /** Closes the current period (see Period) and starts the next one. */
  period(): Period {
    const seconds = Math.max(0, this.lastT - this.spanStart);
    const reqs = this.spanReqs;
    const p: Period = {
      seconds,
      reqs,
      rps: seconds > 0 ? reqs / seconds : 0,
      failed: this.spanFailed,
      p95: reqs ? this.span.getValueAtPercentile(95) / 1_000 : 0,
    };
    this.span.reset();
    this.spanReqs = 0;
    this.spanFailed = 0;
    this.spanStart = this.lastT;
    return p;
  }
}
