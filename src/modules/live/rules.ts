/**
 * Alert rules of the live view and how each kind reads the stream of snapshots (one a second):
 *
 *   threshold  a snapshot metric above (or below) a value for `forSeconds` seconds in a row (and
 *              resolved after as many seconds back within it);
 *   burn-rate  the availability SLO's error budget burning too fast, judged on two windows at once
 *              (the SRE workbook's pairs: 14.4× over 1 h and 5 min, 6× over 6 h and 30 min page;
 *              1× over 3 d and 6 h is a ticket), windows divided by ALERT_WINDOW_SCALE for drills;
 *   anomaly    a metric far (z-score over `value`) from its own exponentially weighted mean and
 *              deviation for `forSeconds` seconds, with a low-traffic floor so a quiet night does
 *              not page.
 *
 * Each evaluator answers per second: `firing`, `clear` (resolve it), or `pending` (the condition
 * holds but not long enough, or there is not enough data: leave an alert as it is).
 */
import type { Snapshot } from './snapshot.js';

export type Severity = 'page' | 'ticket';

export interface ThresholdRule {
  id: string;
  kind: 'threshold';
  metric: RuleMetric;
  op: '>' | '<';
  value: number;
  forSeconds: number;
  severity: Severity;
}

export interface BurnRateRule {
  id: string;
  kind: 'burn-rate';
  /** 'availability': the share of requests not answered 5xx. */
  metric: 'availability';
  /** The SLO objective, e.g. 0.999. */
  value: number;
  severity: Severity;
}

export interface AnomalyRule {
  id: string;
  kind: 'anomaly';
  metric: RuleMetric;
  /** How many deviations from the mean count as anomalous. */
  value: number;
  forSeconds: number;
  severity: Severity;
}

export type Rule = ThresholdRule | BurnRateRule | AnomalyRule;

export interface Verdict {
  state: 'firing' | 'pending' | 'clear';
  value: number;
  threshold: number;
  detail: string;
}

/** The snapshot metrics rules may name (dotted paths into a snapshot). */
export const RULE_METRICS = [
  'http.rps',
  'http.p50',
  'http.p95',
  'http.p99',
  'http.mean',
  'http.errorRate',
  'eventLoop.p99Ms',
  'process.maxCpuCores',
  'process.memoryShare',
  'pool.inUseShare',
  'pool.waiting',
  'commits.depth',
  'commits.meanCommitMs',
  'outbox.lagSeconds.local',
  'outbox.lagSeconds.webhook',
] as const;

export type RuleMetric = (typeof RULE_METRICS)[number];

/** The metric at a dotted path; null when absent or not a number (no data this second). */
export function read(s: Snapshot, path: string): number | null {
  let v: unknown = s;
  for (const part of path.split('.')) v = (v as Record<string, unknown> | null)?.[part];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

const t = (
  id: string,
  metric: RuleMetric,
  value: number,
  forSeconds: number,
  severity: Severity,
): ThresholdRule => ({
  id,
  kind: 'threshold',
  metric,
  op: '>',
  value,
  forSeconds,
  severity,
});

/**
 * The built-in rules: an SLA of p95 < 200 ms and p99 < 500 ms, 99.9 % availability, and the usual
 * warning (ticket) / critical (page) table; the outbox lag (seconds behind) stands for a consumer lag.
 */
export const DEFAULT_RULES: Rule[] = [
  t('sla-p95', 'http.p95', 200, 60, 'page'),
  t('sla-p99', 'http.p99', 500, 60, 'page'),
  t('mean-response-warning', 'http.mean', 100, 60, 'ticket'),
  t('mean-response-critical', 'http.mean', 500, 60, 'page'),
  t('error-rate-warning', 'http.errorRate', 0.01, 60, 'ticket'),
  t('error-rate-critical', 'http.errorRate', 0.05, 60, 'page'),
  t('cpu-warning', 'process.maxCpuCores', 0.7, 120, 'ticket'),
  t('cpu-critical', 'process.maxCpuCores', 0.9, 120, 'page'),
  t('memory-warning', 'process.memoryShare', 0.7, 120, 'ticket'),
  t('memory-critical', 'process.memoryShare', 0.85, 120, 'page'),
  t('pool-warning', 'pool.inUseShare', 0.7, 60, 'ticket'),
  t('pool-critical', 'pool.inUseShare', 0.9, 60, 'page'),
  t('outbox-lag-warning', 'outbox.lagSeconds.local', 60, 60, 'ticket'),
  t('outbox-lag-critical', 'outbox.lagSeconds.local', 600, 60, 'page'),
  { id: 'availability-burn-fast', kind: 'burn-rate', metric: 'availability', value: 0.999, severity: 'page' },
  {
    id: 'availability-burn-slow',
    kind: 'burn-rate',
    metric: 'availability',
    value: 0.999,
    severity: 'ticket',
  },
  { id: 'anomaly-rps', kind: 'anomaly', metric: 'http.rps', value: 4, forSeconds: 10, severity: 'ticket' },
  { id: 'anomaly-p99', kind: 'anomaly', metric: 'http.p99', value: 4, forSeconds: 10, severity: 'ticket' },
  {
    id: 'anomaly-errors',
    kind: 'anomaly',
    metric: 'http.errorRate',
    value: 4,
    forSeconds: 10,
    severity: 'ticket',
  },
];

export interface Evaluator {
  readonly rule: Rule;
  observe(s: Snapshot): Verdict;
}

export interface EvaluatorOptions {
  /** Burn-rate windows are divided by this (1 in production; 60 turns 1 h into 1 min for a drill). */
  windowScale: number;
  /** Below this many requests a second the anomaly rules neither learn nor fire. */
  minRps: number;
}

export function evaluator(rule: Rule, opts: EvaluatorOptions): Evaluator {
  switch (rule.kind) {
    case 'threshold':
      return new ThresholdEvaluator(rule);
    case 'burn-rate':
      return new BurnRateEvaluator(rule, opts.windowScale);
    case 'anomaly':
      return new AnomalyEvaluator(rule, opts.minRps);
  }
}

/** Fires after `forSeconds` breached seconds in a row, clears after as many fine ones (no flapping). */
class ThresholdEvaluator implements Evaluator {
  private breachedRun = 0;
  private fineRun = 0;
  constructor(readonly rule: ThresholdRule) {}

  observe(s: Snapshot): Verdict {
    const { metric, op, value, forSeconds } = this.rule;
    const x = read(s, metric);
    const breached = x !== null && (op === '>' ? x > value : x < value);
    this.breachedRun = breached ? this.breachedRun + 1 : 0;
    this.fineRun = breached ? 0 : this.fineRun + 1;
    const v = x ?? 0;
    const detail = `${metric} ${x === null ? 'has no data' : `was ${round(v)}`} (${op} ${value} for ${forSeconds} s fires)`;
    const state =
      this.breachedRun >= forSeconds ? 'firing' : this.fineRun >= forSeconds ? 'clear' : 'pending';
    return { state, value: v, threshold: value, detail };
  }
}

/** [long window s, short window s, burn factor] pairs per severity (SRE workbook, chapter 5). */
const BURN_WINDOWS: Record<Severity, [number, number, number][]> = {
  page: [
    [3_600, 300, 14.4],
    [21_600, 1_800, 6],
  ],
  ticket: [[259_200, 21_600, 1]],
};
/** A burn counts only with this many requests in the long window and errors in the short one. */
const BURN_MIN_REQUESTS = 100;
const BURN_MIN_ERRORS = 2;

class BurnRateEvaluator implements Evaluator {
  private readonly pairs: [number, number, number][];
  private readonly requests: Float64Array;
  private readonly errors: Float64Array;
  private readonly sums = new Map<number, { requests: number; errors: number }>();
  private n = 0;

  constructor(
    readonly rule: BurnRateRule,
    scale: number,
  ) {
    this.pairs = BURN_WINDOWS[rule.severity].map(([l, s, f]) => [
      Math.max(2, Math.round(l / scale)),
      Math.max(1, Math.round(s / scale)),
      f,
    ]);
    const longest = Math.max(...this.pairs.map((p) => p[0]));
    this.requests = new Float64Array(longest);
    this.errors = new Float64Array(longest);
    for (const [l, s] of this.pairs) for (const w of [l, s]) this.sums.set(w, { requests: 0, errors: 0 });
  }

  observe(s: Snapshot): Verdict {
    const requests = s.http.rps * s.seconds;
    const errors = s.http.errorRate * requests;
    const cap = this.requests.length;
    for (const [w, sum] of this.sums) {
      if (this.n >= w) {
        const old = (this.n - w) % cap;
        sum.requests -= this.requests[old];
        sum.errors -= this.errors[old];
      }
      sum.requests += requests;
      sum.errors += errors;
    }
    this.requests[this.n % cap] = requests;
    this.errors[this.n % cap] = errors;
    this.n += 1;

    const budget = 1 - this.rule.value;
    const burn = (w: number) => {
      const sum = this.sums.get(w) as { requests: number; errors: number };
      return sum.requests > 0 ? sum.errors / sum.requests / budget : 0;
    };
    let worst: Verdict = { state: 'clear', value: 0, threshold: this.pairs[0][2], detail: '' };
    for (const [l, sw, f] of this.pairs) {
      const long = this.sums.get(l) as { requests: number; errors: number };
      const short = this.sums.get(sw) as { requests: number; errors: number };
      const enough = long.requests >= BURN_MIN_REQUESTS && short.errors >= BURN_MIN_ERRORS;
      const firing = enough && burn(l) > f && burn(sw) > f;
      const detail = `error budget of ${this.rule.value * 100} % availability burning ${round(burn(l))}× over ${l} s and ${round(burn(sw))}× over ${sw} s (both > ${f}× fires)`;
      if (firing) return { state: 'firing', value: burn(l), threshold: f, detail };
      if (burn(l) / f > worst.value / worst.threshold || worst.detail === '')
        worst = { state: 'clear', value: burn(l), threshold: f, detail };
    }
    return worst;
  }
}

/** Smallest deviation an anomaly is measured against, per metric (else 10 % of the mean). */
const MIN_DEVIATION: Record<string, number> = {
  'http.errorRate': 0.01,
  'http.p99': 5,
  'http.p95': 5,
  'http.rps': 1,
};
/** Weight of each new second in the mean and deviation (about a minute of memory). */
const ALPHA = 0.02;
/** Seconds of traffic learned before the rule may fire. */
const WARM_UP = 60;

class AnomalyEvaluator implements Evaluator {
  private mean = 0;
  private variance = 0;
  private learned = 0;
  private run = 0;

  constructor(
    readonly rule: AnomalyRule,
    private readonly minRps: number,
  ) {}

  observe(s: Snapshot): Verdict {
    const x = read(s, this.rule.metric);
    const quiet = s.http.rps < this.minRps;
    if (x === null || quiet) {
      this.run = 0;
      return {
        state: 'clear',
        value: 0,
        threshold: this.rule.value,
        detail: `${this.rule.metric}: too little traffic to judge (under ${this.minRps} requests/s)`,
      };
    }
    const deviation = Math.max(
      Math.sqrt(this.variance),
      0.1 * Math.abs(this.mean),
      MIN_DEVIATION[this.rule.metric] ?? 1e-9,
    );
    const z = this.learned >= WARM_UP ? (x - this.mean) / deviation : 0;
    // Request rate is anomalous either way (a crash is a drop); latency and errors only upwards.
    const score = this.rule.metric === 'http.rps' ? Math.abs(z) : z;
    this.learn(x);
    this.run = score > this.rule.value ? this.run + 1 : 0;
    const detail = `${this.rule.metric} was ${round(x)} against a usual ${round(this.mean)} ± ${round(deviation)} (z ${round(z)}; over ${this.rule.value} for ${this.rule.forSeconds} s fires)`;
    const state = this.run === 0 ? 'clear' : this.run >= this.rule.forSeconds ? 'firing' : 'pending';
    return { state, value: score, threshold: this.rule.value, detail };
  }

  private learn(x: number): void {
    if (this.learned === 0) this.mean = x;
    const d = x - this.mean;
    this.mean += ALPHA * d;
    this.variance = (1 - ALPHA) * (this.variance + ALPHA * d * d);
    this.learned += 1;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
