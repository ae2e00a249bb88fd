/**
 * k6 threshold expressions: `--threshold 'metric: expr'`, where metric may carry a tag filter
 * (`http_req_duration{name:issue}`) and expr is `aggregation operator number`:
 *   counter: count, rate · gauge: value · rate: rate · trend: avg, min, med, max, p(N) (0 ≤ N ≤ 100)
 *   operators: <  <=  >  >=  ==  ===  !=
 * parseThreshold() checks the syntax (no registry needed, so the CLI can fail fast);
 * bindThresholds() checks the metric exists and the aggregation fits its type, as k6 does.
 */
import { DrillUsageError } from './errors.js';
import type { AnySink, Metric, MetricType, Registry, Tags } from './metrics.js';

export type Operator = '<' | '<=' | '>' | '>=' | '==' | '===' | '!=';

export type Aggregation =
  | { kind: 'count' | 'rate' | 'value' | 'avg' | 'min' | 'med' | 'max' }
  | { kind: 'percentile'; p: number };

export interface Threshold {
  /** Metric name without tags. */
  metric: string;
  filter: Tags | null;
  /** The expression as k6 prints it (`p(95)<200`). */
  source: string;
  aggregation: Aggregation;
  op: Operator;
  value: number;
}

export interface ThresholdResult {
  /** Full metric key (`http_req_duration{name:issue}`). */
  metric: string;
  source: string;
  ok: boolean;
  /** The aggregation as written in k6 expressions (`p(95)`, `rate`, `count`). */
  aggregation: string;
  /** The aggregated value the expression was tested on. */
  observed: number;
}

/** `p(95)`, `rate`, `count`...: the left-hand side of an expression. */
export function aggregationText(a: Aggregation): string {
  return a.kind === 'percentile' ? `p(${a.p})` : a.kind;
}

const ALLOWED: Record<MetricType, readonly string[]> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'med', 'max', 'percentile'],
};

const LINE = /^\s*([A-Za-z_][A-Za-z0-9_]*)(\{[^}]*\})?\s*:\s*(.+?)\s*$/;
const EXPR =
  /^(count|rate|value|avg|min|med|max|p\(\s*(\d+(?:\.\d+)?)\s*\))\s*(===|==|!=|<=|>=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/i;

function parseFilter(raw: string, line: string): Tags {
  const inner = raw.slice(1, -1).trim();
  if (!inner) throw new DrillUsageError(`threshold "${line}": empty tag filter {}`);
  const tags: Record<string, string> = {};
  for (const pair of inner.split(',')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^,:]+?)\s*$/.exec(pair);
    if (!m) throw new DrillUsageError(`threshold "${line}": tag filter must be {tag:value,...}`);
    tags[m[1]] = m[2];
  }
  return tags;
}

/** Parses one `metric: expr` threshold; throws DrillUsageError with the reason when invalid. */
export function parseThreshold(line: string): Threshold {
  const m = LINE.exec(line);
  if (!m) {
    throw new DrillUsageError(
      `threshold "${line}" must look like 'metric: expression', e.g. 'http_req_duration: p(95)<200'`,
    );
  }
  const [, metric, rawFilter, rawExpr] = m;
  const expr = rawExpr.replace(/\s+/g, ' ').trim();
  const e = EXPR.exec(expr.replace(/\s+/g, ''));
  if (!e) {
    throw new DrillUsageError(
      `threshold "${line}": "${rawExpr}" is not an expression like p(95)<200, rate<0.01, count==0, avg<100`,
    );
  }
  const [, agg, pct, op, num] = e;
  let aggregation: Aggregation;
  if (pct !== undefined) {
    const p = Number(pct);
    if (p < 0 || p > 100) throw new DrillUsageError(`threshold "${line}": percentile ${p} is outside 0..100`);
    aggregation = { kind: 'percentile', p };
  } else {
    aggregation = { kind: agg.toLowerCase() as 'count' | 'rate' | 'value' | 'avg' | 'min' | 'med' | 'max' };
  }
  const value = Number(num);
  if (!Number.isFinite(value))
    throw new DrillUsageError(`threshold "${line}": ${num} is not a finite number`);
  return {
    metric,
    filter: rawFilter ? parseFilter(rawFilter, line) : null,
    source: expr.replace(/\s+/g, ''),
    aggregation,
    op: op as Operator,
    value,
  };
}

export interface BoundThreshold {
  threshold: Threshold;
  key: string;
  sink: AnySink;
}

/** Ties thresholds to metrics (registering tag submetrics); throws DrillUsageError on misuse. */
export function bindThresholds(thresholds: readonly Threshold[], registry: Registry): BoundThreshold[] {
  return thresholds.map((t) => {
    const metric: Metric | undefined = registry.get(t.metric);
    if (!metric) {
      const known = registry
        .all()
        .map((m) => m.name)
        .join(', ');
      throw new DrillUsageError(`threshold on unknown metric "${t.metric}"; this scenario records: ${known}`);
    }
    if (!ALLOWED[metric.type].includes(t.aggregation.kind)) {
      const allowed = ALLOWED[metric.type].map((a) => (a === 'percentile' ? 'p(N)' : a)).join(', ');
      throw new DrillUsageError(
        `threshold "${t.metric}: ${t.source}": ${metric.name} is a ${metric.type}; use ${allowed}`,
      );
    }
    if (t.filter) {
      const sub = metric.submetric(t.filter);
      return { threshold: t, key: sub.name, sink: sub.sink };
    }
    return { threshold: t, key: metric.name, sink: metric.sink };
  });
}

function aggregate(sink: AnySink, agg: Aggregation, durationSec: number): number {
  if (agg.kind === 'percentile') {
    if (sink.type !== 'trend') throw new Error('unreachable: percentile of a non-trend');
    return sink.percentile(agg.p);
  }
  const values: Record<string, number> = sink.values(durationSec);
  const v = values[agg.kind];
  if (v === undefined) throw new Error(`unreachable: ${agg.kind} of a ${sink.type}`);
  return v;
}

export function compare(a: number, op: Operator, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '==':
    case '===':
      return a === b;
    case '!=':
      return a !== b;
  }
}

export function evaluateThresholds(bound: readonly BoundThreshold[], durationSec: number): ThresholdResult[] {
  return bound.map(({ threshold, key, sink }) => {
    const observed = aggregate(sink, threshold.aggregation, durationSec);
    return {
      metric: key,
      source: threshold.source,
      ok: compare(observed, threshold.op, threshold.value),
      aggregation: aggregationText(threshold.aggregation),
      observed,
    };
  });
}
