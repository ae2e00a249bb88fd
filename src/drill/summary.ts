/**
 * summary.json: the data k6 hands to handleSummary() — root_group (with checks), options, state,
 * metrics (type, contains, values, thresholds { expr: { ok } }) and setup_data — plus stampede's
 * own blocks: `stampede` (run description, model, exit code), `generator` (load-generator health),
 * `timeline` (per-second samples for the report) and `audit` (verdict and each check's numbers).
 * Also renders the end-of-run text summary printed on stdout.
 */
import { createHash } from 'node:crypto';
import type { RunAlert } from './alerts.js';
import type { AuditResult } from './audit.js';
import type { GeneratorVerdict } from './health.js';
import type { Registry } from './metrics.js';
import { describeCleanup, type RunCleanup } from './run-tag.js';
import type { ThresholdResult } from './thresholds.js';
import type { Sample } from './timeline.js';

export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'] as const;

export interface SummaryMetric {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains: 'time' | 'data' | 'default';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

/** One threshold's outcome, in the order given (k6's summary keeps only `ok`; this adds the value). */
export interface ThresholdOutcome {
  /** Metric key, tag filter included (`http_req_duration{name:issue}`). */
  metric: string;
  /** The expression (`p(95)<500`). */
  expression: string;
  ok: boolean;
  /** Its left-hand side (`p(95)`) and the value that was compared. */
  aggregation: string;
  observed: number;
}

export interface RunDescription {
  scenario: string;
  description: string;
  profile: { name: string; description: string };
  executor: Record<string, unknown>;
  model: 'closed' | 'open';
  target: { url: string; embedded: boolean };
  /** Carried by everything the run created on the target (src/drill/run-tag.ts). */
  runTag: string;
  /** With --cleanup: what DELETE /api/v1/admin/runs/:runTag deleted, gave back and kept, or why it failed. */
  cleanup?: RunCleanup;
  /** The target's alerts that were firing at some moment of the run (src/drill/alerts.ts). */
  alerts: RunAlert[];
  startedAt: string;
  finishedAt: string;
  /** What the throughput figure means for this model (closed-model req/s is not capacity). */
  capacityNote: string;
  stoppedEarly: boolean;
  iterationErrors: number;
  firstIterationError?: string;
  businessCounters: { metric: string; label: string; color: string }[];
  /** Closed model: the pause between a VU's iterations. */
  thinkTime?: { minMs: number; maxMs: number };
  thresholds: ThresholdOutcome[];
  /** What may have distorted the run and how to avoid it (e.g. the target rate-limited the drill). */
  warnings: string[];
  thresholdsOk: boolean;
  exitCode: number;
  exitReason: string;
}

export interface DrillSummary {
  root_group: {
    name: string;
    path: string;
    id: string;
    groups: never[];
    checks: { name: string; path: string; id: string; passes: number; fails: number }[];
  };
  options: { summaryTrendStats: string[]; summaryTimeUnit: string; noColor: boolean };
  state: { isStdOutTTY: boolean; isStdErrTTY: boolean; testRunDurationMs: number };
  metrics: Record<string, SummaryMetric>;
  setup_data: Record<string, number | string>;
  stampede: RunDescription;
  generator: GeneratorVerdict & { verdict: 'VALID' | 'INVALID' };
  timeline: Sample[];
  audit: AuditResult;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export function metricsBlock(
  registry: Registry,
  durationSec: number,
  thresholds: readonly ThresholdResult[],
): Record<string, SummaryMetric> {
  const out: Record<string, SummaryMetric> = {};
  const attach = (key: string, m: SummaryMetric) => {
    const mine = thresholds.filter((t) => t.metric === key);
    if (mine.length) m.thresholds = Object.fromEntries(mine.map((t) => [t.source, { ok: t.ok }]));
    out[key] = m;
  };
  for (const metric of registry.all()) {
    attach(metric.name, {
      type: metric.type,
      contains: metric.contains,
      values: metric.sink.values(durationSec),
    });
    for (const sub of metric.submetrics) {
      attach(sub.name, {
        type: metric.type,
        contains: metric.contains,
        values: sub.sink.values(durationSec),
      });
    }
  }
  return out;
}

export function rootGroup(
  checks: ReadonlyMap<string, { passes: number; fails: number }>,
): DrillSummary['root_group'] {
  return {
    name: '',
    path: '',
    id: md5(''),
    groups: [],
    checks: [...checks].map(([name, c]) => ({ name, path: `::${name}`, id: md5(`::${name}`), ...c })),
  };
}

function fmt(v: number, contains: SummaryMetric['contains']): string {
  if (contains === 'time') return v >= 1_000 ? `${(v / 1_000).toFixed(2)}s` : `${v.toFixed(2)}ms`;
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

function metricLine(name: string, m: SummaryMetric): string {
  const v = m.values;
  let text: string;
  switch (m.type) {
    case 'trend':
      text = SUMMARY_TREND_STATS.map((k) => `${k}=${fmt(v[k], m.contains)}`).join(' ');
      break;
    case 'rate':
      text = `${(v.rate * 100).toFixed(2)}%  ${v.passes} out of ${v.passes + v.fails}`;
      break;
    case 'counter':
      text = `${v.count}  ${v.rate.toFixed(2)}/s`;
      break;
    case 'gauge':
      text = `${v.value}  min=${v.min} max=${v.max}`;
      break;
  }
  const mark = m.thresholds ? (Object.values(m.thresholds).every((t) => t.ok) ? '✓ ' : '✗ ') : '  ';
  return `    ${mark}${name.padEnd(40, '.')}: ${text}`;
}

export function thresholdOutcomes(results: readonly ThresholdResult[]): ThresholdOutcome[] {
  return results.map((t) => ({
    metric: t.metric,
    expression: t.source,
    ok: t.ok,
    aggregation: t.aggregation,
    observed: t.observed,
  }));
}

/** A threshold's observed value as k6 prints it: `p(95)=12.34ms`, `rate=0.50%`, `count=3`. */
export function observedText(t: ThresholdOutcome, m: SummaryMetric | undefined): string {
  const v = t.observed;
  let text: string;
  if (m?.type === 'rate') text = `${(v * 100).toFixed(2)}%`;
  else if (m?.type === 'counter' && t.aggregation === 'rate') text = `${v.toFixed(2)}/s`;
  else if (m?.type === 'trend') text = fmt(v, m.contains);
  else text = fmt(v, 'default');
  return `${t.aggregation}=${text}`;
}

const dotted = (name: string, width: number) => `${name.padEnd(width, '.')}:`;

function thresholdLines(s: DrillSummary): string[] {
  const ts = s.stampede.thresholds;
  if (!ts.length) return ['  thresholds: none'];
  const passed = ts.filter((t) => t.ok).length;
  const width = Math.max(34, ...ts.map((t) => t.metric.length + 4));
  const exprWidth = Math.max(12, ...ts.map((t) => t.expression.length + 2));
  return [
    `  thresholds: ${passed} of ${ts.length} passed`,
    ...ts.map(
      (t) =>
        `    ${t.ok ? '✓' : '✗'} ${dotted(t.metric, width)} ${t.expression.padEnd(exprWidth)}${observedText(t, s.metrics[t.metric])}`,
    ),
  ];
}

function checkLines(s: DrillSummary): string[] {
  const cs = s.root_group.checks;
  if (!cs.length) return ['  checks: none'];
  const passes = cs.reduce((n, c) => n + c.passes, 0);
  const total = cs.reduce((n, c) => n + c.passes + c.fails, 0);
  const width = Math.max(34, ...cs.map((c) => c.name.length + 4));
  return [
    `  checks: ${total ? ((passes / total) * 100).toFixed(2) : '100.00'}% passed (${passes} of ${total})`,
    ...cs.map(
      (c) =>
        `    ${c.fails ? '✗' : '✓'} ${dotted(c.name, width)} ${c.passes} of ${c.passes + c.fails}${c.fails ? ` (${c.fails} failed)` : ''}`,
    ),
  ];
}

/** What made the verdict: the failed audit checks, or the failed thresholds. */
function verdictCause(s: DrillSummary): string {
  const r = s.stampede;
  if (r.exitCode === 98) {
    const failed = s.audit.checks.filter((c) => !c.ok).map((c) => c.name);
    return failed.length ? ` — failed: ${failed.join(', ')}` : '';
  }
  if (r.exitCode === 99) {
    const failed = r.thresholds.filter((t) => !t.ok).map((t) => `${t.metric}: ${t.expression}`);
    return failed.length ? ` — failed: ${failed.join(', ')}` : '';
  }
  return '';
}

/**
 * The end-of-run text (stdout): the run, thresholds (each expression and the value it was tested
 * on), checks (each by name), all metrics (k6 style), the capacity note, generator health, the
 * audit, and the verdict with the exit code and what caused it.
 */
export function renderText(s: DrillSummary, files: { summary: string; report: string }): string {
  const r = s.stampede;
  const lines: string[] = [
    '',
    `  scenario: ${r.scenario} · profile ${r.profile.name} (${r.profile.description}) · ${r.executor.executor} (${r.model} model)`,
    `  target:   ${r.target.url}${r.target.embedded ? ' (embedded, started for this run)' : ''}`,
    `  run tag:  ${r.runTag}`,
    `  duration: ${(s.state.testRunDurationMs / 1_000).toFixed(1)} s${r.stoppedEarly ? ' (stopped early)' : ''}`,
    '',
    ...thresholdLines(s),
    '',
    ...checkLines(s),
    '',
    '  metrics:',
  ];
  const names = Object.keys(s.metrics).sort();
  for (const n of names) {
    const m = s.metrics[n];
    if (m.type === 'counter' && m.values.count === 0 && !m.thresholds) continue;
    if (m.type === 'trend' && m.values.max === 0 && !m.thresholds) continue;
    lines.push(metricLine(n, m));
  }
  lines.push('', `  ${r.capacityNote}`, '');
  for (const w of r.warnings) lines.push(`  warning: ${w}`, '');
  const g = s.generator;
  lines.push(
    `  load generator: ${g.verdict} — CPU avg ${(g.cpuAvg * 100).toFixed(0)}% max ${(g.cpuMax * 100).toFixed(0)}% of one core, event-loop delay p99 max ${g.loopP99Max.toFixed(1)} ms`,
  );
  for (const reason of g.reasons) lines.push(`    ${reason}`);
  lines.push('', `  audit: ${s.audit.verdict}`);
  for (const c of s.audit.checks) {
    lines.push(
      `    ${c.ok ? '✓' : '✗'} ${c.name.padEnd(30)} expected ${c.expected} · actual ${c.actual}${c.source === 'database' ? ' (PostgreSQL)' : ''}${c.ok ? '' : `\n        ${c.detail}`}`,
    );
  }
  for (const n of s.audit.notes) lines.push(`    note: ${n}`);
  if (r.cleanup) lines.push('', `  ${describeCleanup(r.cleanup)}`);
  if (r.iterationErrors)
    lines.push('', `  ${r.iterationErrors} iterations threw; first: ${r.firstIterationError}`);
  lines.push(
    '',
    `  verdict: ${r.exitReason} (exit ${r.exitCode})${verdictCause(s)}`,
    `  summary: ${files.summary}`,
    `  report:  ${files.report}`,
    '',
  );
  return lines.join('\n');
}
