/**
 * k6's four metric types, with k6's summary values:
 *   counter → { count, rate }        (rate = count per second of test run)
 *   gauge   → { value, min, max }
 *   rate    → { rate, passes, fails } (passes = samples that were true/non-zero, as in k6)
 *   trend   → { avg, min, med, max, p(90), p(95), p(99) } in ms for time trends
 * Trends keep every sample in an HDR histogram (3 significant digits, µs resolution), so any
 * percentile a threshold asks for is exact to 0.1 %.
 * Submetrics (`http_req_duration{name:issue}`) are registered on demand — by a threshold or a
 * scenario — and receive the samples whose tags match all their filters.
 */
import { build, type Histogram } from 'hdr-histogram-js';

export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend';
export type Tags = Readonly<Record<string, string>>;

/** Creates an HDR histogram of microseconds, from 1 µs up to 1 h (grows if ever exceeded). */
export function microsecondHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });
}

abstract class Sink {
  abstract readonly type: MetricType;
  abstract values(durationSec: number): Record<string, number>;
}

class CounterSink extends Sink {
  readonly type = 'counter';
  count = 0;
  add(v: number) {
    this.count += v;
  }
  values(durationSec: number) {
    return { count: this.count, rate: durationSec > 0 ? this.count / durationSec : 0 };
  }
}

class GaugeSink extends Sink {
  readonly type = 'gauge';
  value = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  add(v: number) {
    this.value = v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }
  values() {
    const seen = this.max !== Number.NEGATIVE_INFINITY;
    return { value: this.value, min: seen ? this.min : 0, max: seen ? this.max : 0 };
  }
}

class RateSink extends Sink {
  readonly type = 'rate';
  passes = 0;
  fails = 0;
  add(v: number) {
    if (v !== 0) this.passes++;
    else this.fails++;
  }
  values() {
    const n = this.passes + this.fails;
    return { rate: n ? this.passes / n : 0, passes: this.passes, fails: this.fails };
  }
}

class TrendSink extends Sink {
  readonly type = 'trend';
  readonly hist = microsecondHistogram();
  private sumUs = 0;
  add(ms: number) {
    const us = Math.max(1, Math.round(ms * 1_000));
    this.hist.recordValue(us);
    this.sumUs += us;
  }
  get count() {
    return this.hist.totalCount;
  }
  /** Percentile 0..100 in ms; 0 when empty. */
  percentile(p: number): number {
    return this.count ? this.hist.getValueAtPercentile(p) / 1_000 : 0;
  }
  values() {
    const n = this.count;
    return {
      avg: n ? this.sumUs / n / 1_000 : 0,
      min: n ? this.hist.minNonZeroValue / 1_000 : 0,
      med: this.percentile(50),
      max: n ? this.hist.maxValue / 1_000 : 0,
      'p(90)': this.percentile(90),
      'p(95)': this.percentile(95),
      'p(99)': this.percentile(99),
    };
  }
}

type AnySink = CounterSink | GaugeSink | RateSink | TrendSink;

function newSink(type: MetricType): AnySink {
  switch (type) {
    case 'counter':
      return new CounterSink();
    case 'gauge':
      return new GaugeSink();
    case 'rate':
      return new RateSink();
    case 'trend':
      return new TrendSink();
  }
}

export interface Submetric {
  /** Full k6 name, e.g. `http_req_duration{name:issue}`. */
  name: string;
  filter: Tags;
  sink: AnySink;
}

export class Metric {
  readonly sink: AnySink;
  readonly submetrics: Submetric[] = [];

  constructor(
    readonly name: string,
    readonly type: MetricType,
    /** k6's `contains`: "time" for durations in ms, "data" for bytes, else "default". */
    readonly contains: 'time' | 'data' | 'default',
  ) {
    this.sink = newSink(type);
  }

  /** Records one sample (a boolean for rates); tags select the submetrics it also feeds. */
  add(value: number | boolean, tags?: Tags): void {
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    this.sink.add(v);
    if (tags && this.submetrics.length) {
      for (const sub of this.submetrics) {
        let match = true;
        for (const k in sub.filter) {
          if (tags[k] !== sub.filter[k]) {
            match = false;
            break;
          }
        }
        if (match) sub.sink.add(v);
      }
    }
  }

  submetric(filter: Tags): Submetric {
    const key = Object.entries(filter)
      .map(([k, v]) => `${k}:${v}`)
      .join(',');
    const name = `${this.name}{${key}}`;
    let sub = this.submetrics.find((s) => s.name === name);
    if (!sub) {
      sub = { name, filter: { ...filter }, sink: newSink(this.type) };
      this.submetrics.push(sub);
    }
    return sub;
  }
}

/** All metrics of one run, by k6 name. */
export class Registry {
  private readonly metrics = new Map<string, Metric>();

  define(name: string, type: MetricType, contains: Metric['contains'] = 'default'): Metric {
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type) throw new Error(`metric ${name} is a ${existing.type}, not a ${type}`);
      return existing;
    }
    const m = new Metric(name, type, contains);
    this.metrics.set(name, m);
    return m;
  }

  get(name: string): Metric | undefined {
    return this.metrics.get(name);
  }

  all(): Metric[] {
    return [...this.metrics.values()];
  }
}

export type { AnySink, CounterSink, GaugeSink, RateSink, TrendSink };

/** The built-in metrics every run records (k6 names; see docs/drill.md for what each counts). */
export function builtinMetrics(registry: Registry) {
  return {
    httpReqs: registry.define('http_reqs', 'counter'),
    httpReqDuration: registry.define('http_req_duration', 'trend', 'time'),
    httpReqFailed: registry.define('http_req_failed', 'rate'),
    iterations: registry.define('iterations', 'counter'),
    iterationDuration: registry.define('iteration_duration', 'trend', 'time'),
    droppedIterations: registry.define('dropped_iterations', 'counter'),
    interruptedIterations: registry.define('interrupted_iterations', 'counter'),
    iterationStartLag: registry.define('iteration_start_lag', 'trend', 'time'),
    vus: registry.define('vus', 'gauge'),
    vusMax: registry.define('vus_max', 'gauge'),
    checks: registry.define('checks', 'rate'),
  };
}

export type BuiltinMetrics = ReturnType<typeof builtinMetrics>;
