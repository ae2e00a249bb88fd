/**
 * The live view's unit of data: a frame = what one process saw during one second — requests by
 * status class and route, their latencies as an HDR histogram (mergeable: a percentile over many
 * processes is taken from the sum of their histograms, never averaged), how much each business
 * counter moved, and gauges sampled at the second's end.
 *
 * FrameRecorder folds requests as they finish (one call per response, O(1)) and cuts a frame once
 * a second; `mergeFrames` combines any set of frames (processes × seconds) into one view.
 */
import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js';

export interface Frame {
  /** Start of the second, ms since epoch. */
  at: number;
  /** Which process recorded it. */
  process: string;
  requests: number;
  /** Requests by status class: '2xx', '3xx', '4xx', '5xx'. */
  statuses: Record<string, number>;
  /** Per route pattern: [requests, of which 5xx]. */
  routes: Record<string, [number, number]>;
  /** Latency in µs of every request (event streams excepted), compressed HDR; '' when none. */
  latency: string;
  /** How much each business counter moved during the second. */
  counts: Record<string, number>;
  /** Gauges at the second's end: summed over processes (`sum`) or the worst one (`max`). */
  sum: Record<string, number>;
  max: Record<string, number>;
}

/** µs; 1 µs to 10 min at 2 significant digits keeps an encoded second in a few hundred bytes. */
function histogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 2,
  });
}

export class FrameRecorder {
  private requests = 0;
  private statuses: Record<string, number> = {};
  private routes: Record<string, [number, number]> = {};
  private latency = histogram();

  /** One finished request; `seconds` null for an event stream (its length is not latency). */
  request(route: string, status: number, seconds: number | null): void {
    this.requests += 1;
    const cls = `${Math.floor(status / 100)}xx`;
    this.statuses[cls] = (this.statuses[cls] ?? 0) + 1;
    let r = this.routes[route];
    if (!r) {
      r = [0, 0];
      this.routes[route] = r;
    }
    r[0] += 1;
    if (status >= 500) r[1] += 1;
    if (seconds !== null) this.latency.recordValue(Math.max(1, Math.round(seconds * 1e6)));
  }

  /** Closes the second that started at `at` and starts the next one. */
  cut(
    at: number,
    process: string,
    counts: Record<string, number>,
    gauges: { sum: Record<string, number>; max: Record<string, number> },
  ): Frame {
    const frame: Frame = {
      at,
      process,
      requests: this.requests,
      statuses: this.statuses,
      routes: this.routes,
      latency: this.latency.totalCount > 0 ? encodeIntoCompressedBase64(this.latency) : '',
      counts,
      sum: gauges.sum,
      max: gauges.max,
    };
    this.requests = 0;
    this.statuses = {};
    this.routes = {};
    this.latency.reset();
    return frame;
  }
}

export interface Merged {
  /** Start of the first second merged, ms since epoch. */
  at: number;
  /** Seconds covered. */
  seconds: number;
  processes: number;
  requests: number;
  rps: number;
  /** ms; null when no request was timed. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  mean: number | null;
  /** Share of requests answered 5xx (0 when there were none). */
  errorRate: number;
  statuses: Record<string, number>;
  /** Busiest first. */
  routes: { route: string; rps: number; errorRate: number }[];
  /** Per second, like `rps`. */
  rates: Record<string, number>;
  /** Gauges: the sum over processes (of the last second), or the worst process's value. */
  gauges: Record<string, number>;
}

function add(into: Record<string, number>, from: Record<string, number>, scale = 1) {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v * scale;
}

/**
 * Merges frames of `seconds` consecutive seconds starting at `at` (any processes). Counts become
 * rates per second; gauges are taken from each process's latest frame.
 */
export function mergeFrames(frames: Frame[], at: number, seconds: number): Merged {
  const latency = histogram();
  const statuses: Record<string, number> = {};
  const counts: Record<string, number> = {};
  const routes = new Map<string, [number, number]>();
  const latest = new Map<string, Frame>();
  let requests = 0;
  for (const f of frames) {
    requests += f.requests;
    add(statuses, f.statuses);
    add(counts, f.counts);
    for (const [route, [n, e]] of Object.entries(f.routes)) {
      const r = routes.get(route) ?? [0, 0];
      r[0] += n;
      r[1] += e;
      routes.set(route, r);
    }
    if (f.latency) {
      const h = decodeFromCompressedBase64(f.latency);
      latency.add(h);
      h.destroy();
    }
    const prev = latest.get(f.process);
    if (!prev || prev.at < f.at) latest.set(f.process, f);
  }
  const gauges: Record<string, number> = {};
  for (const f of latest.values()) {
    add(gauges, f.sum);
    for (const [k, v] of Object.entries(f.max))
      gauges[k] = Math.max(gauges[k] ?? Number.NEGATIVE_INFINITY, v);
  }
  const timed = latency.totalCount > 0;
  const ms = (us: number) => Math.round(us) / 1000;
  const rates: Record<string, number> = {};
  add(rates, counts, 1 / seconds);
  const merged: Merged = {
    at,
    seconds,
    processes: latest.size,
    requests,
    rps: requests / seconds,
    p50: timed ? ms(latency.getValueAtPercentile(50)) : null,
    p95: timed ? ms(latency.getValueAtPercentile(95)) : null,
    p99: timed ? ms(latency.getValueAtPercentile(99)) : null,
    mean: timed ? ms(latency.mean) : null,
    errorRate: requests > 0 ? (statuses['5xx'] ?? 0) / requests : 0,
    statuses,
    routes: [...routes.entries()]
      .sort((a, b) => b[1][0] - a[1][0])
      .slice(0, 20)
      .map(([route, [n, e]]) => ({ route, rps: n / seconds, errorRate: n > 0 ? e / n : 0 })),
    rates,
    gauges,
  };
  latency.destroy();
  return merged;
}
