/**
 * report.html: one self-contained file (inline CSS, inline SVG charts, a few lines of inline
 * script for legend toggles; no network access) built from summary.json's data:
 * verdict, key figures, VUs and request rate, latency percentiles, responses by status code,
 * business counters, load-generator health, thresholds, audit (checks, facts with readable
 * labels, notes), all metrics, checks, and the executor's settings in words.
 */

import { describeCleanup } from '../run-tag.js';
import { type DrillSummary, SUMMARY_TREND_STATS, type SummaryMetric } from '../summary.js';
import { statusColors } from './colors.js';
import { label, valueText } from './labels.js';
import {
  type ChartSpec,
  escapeXml as esc,
  lineChart,
  type Marker,
  type Series,
  stackedBarChart,
} from './svg.js';

function ms(v: number): string {
  return v >= 1_000 ? `${(v / 1_000).toFixed(2)} s` : `${v.toFixed(v >= 100 ? 0 : 1)} ms`;
}

function val(m: SummaryMetric | undefined, key: string): number {
  return m?.values[key] ?? 0;
}

function verdictClass(code: number): string {
  return code === 0 ? 'pass' : code === 97 ? 'invalid' : 'fail';
}

function metricValues(m: SummaryMetric): string {
  const v = m.values;
  switch (m.type) {
    case 'trend':
      return SUMMARY_TREND_STATS.map(
        (k) => `${k}=${m.contains === 'time' ? ms(v[k]) : v[k].toFixed(2)}`,
      ).join(' · ');
    case 'rate':
      return `${(v.rate * 100).toFixed(2)}% (${v.passes} of ${v.passes + v.fails})`;
    case 'counter':
      return `${v.count} (${v.rate.toFixed(2)}/s)`;
    case 'gauge':
      return `${v.value} (min ${v.min}, max ${v.max})`;
  }
}

/** A marker per alert of the target that started (and resolved) during the run. */
function alertMarkers(s: DrillSummary): Marker[] {
  const out: Marker[] = [];
  for (const a of s.stampede.alerts ?? []) {
    const color = a.severity === 'page' ? '#dc2626' : '#d97706';
    out.push({ x: a.startedAtSec, label: `▲ ${a.rule}`, color });
    if (a.resolvedAtSec !== undefined)
      out.push({ x: a.resolvedAtSec, label: `✓ ${a.rule}`, color: '#16a34a' });
  }
  return out;
}

function alertsBlock(s: DrillSummary): string {
  const alerts = s.stampede.alerts ?? [];
  if (!alerts.length) return '<p>No alert of the target fired during the run.</p>';
  const rows = alerts
    .map(
      (a) =>
        `<tr class="${a.severity === 'page' ? 'bad' : ''}"><td>${esc(a.rule)}</td><td>${esc(a.severity)}</td><td>${a.startedAtSec.toFixed(1)} s</td><td>${a.resolvedAtSec === undefined ? 'still firing' : `${a.resolvedAtSec.toFixed(1)} s`}</td><td>${esc(a.detail)}</td></tr>`,
    )
    .join('');
  return `<table id="alerts"><thead><tr><th>rule</th><th>severity</th><th>fired</th><th>resolved</th><th>detail</th></tr></thead><tbody>${rows}</tbody></table>`;
}

function charts(s: DrillSummary): string {
  const tl = s.timeline;
  const x = tl.map((p) => p.t);
  const markers = alertMarkers(s);
  const out: string[] = [];
  const open = s.stampede.model === 'open';

  out.push(
    lineChart({
      id: 'chart-load',
      markers,
      title: open
        ? 'Busy VUs and request rate (open model: arrivals follow the clock)'
        : 'VUs and request rate',
      x,
      yLabel: 'VUs',
      y2Label: 'requests / s',
      series: [
        { name: open ? 'busy VUs' : 'VUs', color: '#64748b', values: tl.map((p) => p.vus) },
        { name: 'req/s', color: '#2563eb', values: tl.map((p) => p.rps), right: true },
        ...(open
          ? [
              {
                name: 'dropped iterations/s',
                color: '#dc2626',
                right: true,
                dashed: true,
                values: tl.map(
                  (p, i) =>
                    (p.counters.dropped_iterations ?? 0) -
                    (i ? (tl[i - 1].counters.dropped_iterations ?? 0) : 0),
                ),
              },
            ]
          : []),
      ],
    }),
  );

  out.push(
    lineChart({
      id: 'chart-latency',
      markers,
      title: 'Latency (http_req_duration) per second',
      x,
      yLabel: 'ms',
      format: (v) => ms(v),
      // At low rates a second holds few requests and p95 = p99 (= max): p99 is drawn first, wide
      // and dashed, so p95 on top of it stays visible, and so on down to p50.
      series: [
        { name: 'p50', color: '#0d9488', values: tl.map((p) => p.p50), width: 1.5, layer: 3 },
        { name: 'p90', color: '#2563eb', values: tl.map((p) => p.p90), width: 2, layer: 2 },
        { name: 'p95', color: '#f59e0b', values: tl.map((p) => p.p95), width: 2.5, layer: 1 },
        { name: 'p99', color: '#dc2626', values: tl.map((p) => p.p99), width: 5, dashed: true, layer: 0 },
      ],
    }),
  );

  const codes = [...new Set(tl.flatMap((p) => Object.keys(p.status)))].sort();
  const colors = statusColors(codes);
  out.push(
    stackedBarChart({
      id: 'chart-status',
      title: 'Responses by status code per second (0 = no response: timeout or connection error)',
      x,
      yLabel: 'responses / s',
      series: codes.map((c) => ({
        name: c,
        color: colors[c],
        values: tl.map((p) => p.status[c] ?? 0),
      })),
    }),
  );

  const business: Series[] = s.stampede.businessCounters.map((b) => ({
    name: b.label,
    color: b.color,
    values: tl.map((p) => p.counters[b.metric] ?? 0),
  }));
  business.push({
    name: 'errors (http_req_failed)',
    color: '#dc2626',
    dashed: true,
    values: tl.map((p) => p.counters.http_req_failed ?? 0),
  });
  out.push(
    lineChart({
      id: 'chart-business',
      markers,
      title: 'Business outcomes (cumulative)',
      x,
      yLabel: 'count',
      series: business,
    }),
  );

  const health: ChartSpec = {
    id: 'chart-generator',
    title: 'Load generator health (the drill process)',
    x,
    yLabel: 'CPU % of one core',
    y2Label: 'event-loop delay ms',
    series: [
      { name: 'CPU %', color: '#2563eb', values: tl.map((p) => p.cpu * 100) },
      { name: 'event-loop delay p99', color: '#f59e0b', values: tl.map((p) => p.loopP99), right: true },
      {
        name: 'event-loop delay max',
        color: '#dc2626',
        values: tl.map((p) => p.loopMax),
        right: true,
        dashed: true,
      },
    ],
    limits: [
      {
        value: s.generator.limits.cpuOfOneCore * 100,
        label: `CPU limit ${s.generator.limits.cpuOfOneCore * 100}%`,
        color: '#1d4ed8',
      },
      {
        value: s.generator.limits.loopDelayP99Ms,
        label: `delay limit ${s.generator.limits.loopDelayP99Ms} ms`,
        color: '#b45309',
        right: true,
      },
    ],
  };
  out.push(lineChart(health));
  return out.join('\n');
}

function figures(s: DrillSummary): string {
  const m = s.metrics;
  const d = m.http_req_duration;
  const peakRps = Math.max(0, ...s.timeline.map((p) => p.rps));
  const cards: [string, string, ('wide' | '')?][] = [
    ['requests', String(val(m.http_reqs, 'count'))],
    ['req/s (avg · peak)', `${val(m.http_reqs, 'rate').toFixed(0)} · ${peakRps.toFixed(0)}`],
    ['p50 · p95 · p99', `${ms(val(d, 'med'))} · ${ms(val(d, 'p(95)'))} · ${ms(val(d, 'p(99)'))}`, 'wide'],
    ['failed', `${(val(m.http_req_failed, 'rate') * 100).toFixed(2)}% (${val(m.http_req_failed, 'passes')})`],
    ...s.stampede.businessCounters.map((b): [string, string] => [b.label, String(val(m[b.metric], 'count'))]),
    ['iterations', String(val(m.iterations, 'count'))],
  ];
  if (s.stampede.model === 'open')
    cards.push(['dropped iterations', String(val(m.dropped_iterations, 'count'))]);
  cards.push(['max VUs', String(val(m.vus_max, 'max'))]);
  return `<div class="cards">${cards.map(([k, v, wide]) => `<div class="card${wide ? ' wide' : ''}"><div class="k">${esc(k)}</div><div class="v" title="${esc(v)}">${esc(v)}</div></div>`).join('')}</div>`;
}

function thresholdTable(s: DrillSummary): string {
  const rows: string[] = [];
  for (const [name, m] of Object.entries(s.metrics)) {
    for (const [expr, t] of Object.entries(m.thresholds ?? {})) {
      rows.push(
        `<tr class="${t.ok ? 'ok' : 'bad'}"><td>${t.ok ? '✓' : '✗'}</td><td><code>${esc(name)}</code></td><td><code>${esc(expr)}</code></td><td>${esc(metricValues(m))}</td></tr>`,
      );
    }
  }
  if (!rows.length) return '<p>No thresholds.</p>';
  return `<table id="thresholds"><thead><tr><th></th><th>metric</th><th>threshold</th><th>observed</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function auditBlock(s: DrillSummary): string {
  const a = s.audit;
  const rows = a.checks
    .map(
      (c) =>
        `<tr class="${c.ok ? 'ok' : 'bad'}"><td>${c.ok ? '✓' : '✗'}</td><td><code>${esc(c.name)}</code></td><td>${esc(c.source)}</td><td>${esc(c.expected)}</td><td>${esc(c.actual)}</td><td>${esc(c.detail)}</td></tr>`,
    )
    .join('');
  const facts = Object.entries(a.facts)
    .map(
      ([k, v]) =>
        `<tr data-key="${esc(k)}" title="summary.json: audit.facts.${esc(k)}"><th>${esc(label(k))}</th><td>${esc(valueText(v))}</td></tr>`,
    )
    .join('');
  const notes = a.notes.map((n) => `<li>${esc(n)}</li>`).join('');
  return (
    `<p class="verdict ${a.verdict === 'PASS' ? 'pass' : 'fail'}" id="audit-verdict">audit ${a.verdict}</p>` +
    `<table id="audit"><thead><tr><th></th><th>check</th><th>source</th><th>expected</th><th>actual</th><th>meaning</th></tr></thead><tbody>${rows}</tbody></table>` +
    `<h3>Facts</h3><table id="facts" class="facts"><tbody>${facts}</tbody></table>${notes ? `<h3>Notes</h3><ul>${notes}</ul>` : ''}`
  );
}

function generatorBlock(s: DrillSummary): string {
  const g = s.generator;
  const reasons = g.reasons.map((r) => `<li>${esc(r)}</li>`).join('');
  return (
    `<p class="verdict ${g.valid ? 'pass' : 'invalid'}" id="generator-verdict">load generator ${g.verdict}</p>` +
    `<p>CPU avg ${(g.cpuAvg * 100).toFixed(0)}%, max ${(g.cpuMax * 100).toFixed(0)}% of one core · event-loop delay p99 max ${g.loopP99Max.toFixed(1)} ms, max ${g.loopMax.toFixed(1)} ms · ` +
    `${g.saturatedWindows} of ${g.windows} seconds saturated (limit: delay p99 &gt; ${g.limits.loopDelayP99Ms} ms or CPU ≥ ${g.limits.cpuOfOneCore * 100}% in ≥ ${g.limits.saturatedShare * 100}% of seconds)</p>` +
    (reasons ? `<ul>${reasons}</ul>` : '')
  );
}

function seconds(text: unknown): string {
  return String(text).replace(/^(\d+(?:\.\d+)?)s$/, '$1 s');
}

function amount(v: unknown): string {
  const n = Number(v);
  return Number.isFinite(n) ? String(Math.round(n * 100) / 100) : String(v);
}

/** The executor's k6 options in words: model, curve stage by stage, VU limits, graceful stops. */
function executorBlock(s: DrillSummary): string {
  const r = s.stampede;
  const e = r.executor;
  const open = r.model === 'open';
  const unit = open ? 'iterations/s' : 'VUs';
  const rows: [string, string][] = [
    [
      'executor',
      open
        ? `${String(e.executor)} (open model: iterations start on a clock, whatever the target does)`
        : `${String(e.executor)} (closed model: each VU runs iterations back to back)`,
    ],
  ];
  let at = Number(open ? e.startRate : e.startVUs);
  rows.push([open ? 'start rate' : 'start VUs', `${amount(at)} ${unit}`]);
  const stages = Array.isArray(e.stages) ? (e.stages as { duration?: unknown; target?: unknown }[]) : [];
  const steps = stages.map((st) => {
    const target = Number(st.target);
    const d = seconds(st.duration);
    const text =
      target === at
        ? `hold ${amount(target)} ${unit} for ${d}`
        : `${target > at ? 'ramp up' : 'ramp down'} to ${amount(target)} ${unit} over ${d}`;
    at = target;
    return text;
  });
  if (steps.length)
    rows.push(['stages', `<ol class="stages">${steps.map((t) => `<li>${esc(t)}</li>`).join('')}</ol>`]);
  if (r.thinkTime) {
    const { minMs, maxMs } = r.thinkTime;
    rows.push([
      'think time',
      minMs === maxMs
        ? `${minMs / 1_000} s between a VU's iterations`
        : `${minMs / 1_000}–${maxMs / 1_000} s between a VU's iterations (uniform)`,
    ]);
  }
  if (open) {
    rows.push(['pre-allocated VUs', amount(e.preAllocatedVUs)]);
    rows.push(['max VUs', `${amount(e.maxVUs)} (an iteration with no free VU is dropped)`]);
  }
  if (e.gracefulRampDown !== undefined)
    rows.push([
      'graceful ramp-down',
      `${seconds(e.gracefulRampDown)} for a VU above a falling target to finish`,
    ]);
  if (e.gracefulStop !== undefined)
    rows.push(['graceful stop', `${seconds(e.gracefulStop)} for running iterations to finish at the end`]);
  return `<table id="executor" class="settings"><tbody>${rows
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${k === 'stages' ? v : esc(v)}</td></tr>`)
    .join(
      '',
    )}</tbody></table><p class="note">The same settings in k6's option names: <code>stampede.executor</code> in summary.json.</p>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.meta{color:#475569}.verdict{display:inline-block;font-weight:700;padding:4px 12px;border-radius:6px;margin:8px 0}
.pass{background:#dcfce7;color:#166534}.fail{background:#fee2e2;color:#991b1b}.invalid{background:#fef3c7;color:#92400e}
.banner{padding:12px 16px;border-radius:8px;margin:12px 0;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:8px;margin:12px 0}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:8px 12px;min-width:0}.card.wide{grid-column:span 2}
.card .k{color:#64748b;font-size:12px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.card .v{font-size:17px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
@media (max-width:480px){.card.wide{grid-column:auto}}
figure.chart{background:#fff;border:1px solid #e2e8f0;border-radius:8px;margin:12px 0;padding:8px}
figcaption{font-weight:600;margin:0 0 4px 8px}
svg .grid{stroke:#e2e8f0}svg .axisline{stroke:#94a3b8}svg .tick{font-size:11px;fill:#64748b}svg .axis{font-size:12px;fill:#334155}
svg .limit{stroke-dasharray:3 3}svg .hover rect{fill:transparent}svg .hover rect:hover{fill:rgba(100,116,139,.12)}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin:4px 8px}
.key{font:12px system-ui;border:1px solid #e2e8f0;background:#fff;border-radius:12px;padding:2px 8px;cursor:pointer}
.key.off{opacity:.4;text-decoration:line-through}.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}th,td{border:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top}
tr.bad td{background:#fef2f2}tr.ok td:first-child{color:#16a34a}tr.bad td:first-child{color:#dc2626;font-weight:700}
code{font-size:12px}.note{color:#475569}
table.facts,table.settings{width:auto;min-width:50%}table.facts th,table.settings th{font-weight:500;color:#334155;background:#f8fafc;white-space:nowrap}
ol.stages{margin:0;padding-left:20px}
`;

const SCRIPT = `
document.querySelectorAll('.key').forEach(function (key) {
  key.addEventListener('click', function () {
    var fig = document.getElementById(key.dataset.chart);
    var off = key.classList.toggle('off');
    fig.querySelectorAll('svg [data-series]').forEach(function (el) {
      if (el.getAttribute('data-series') === key.dataset.series) el.style.display = off ? 'none' : '';
    });
  });
});
document.body.dataset.ready = 'true';
`;

export function renderReport(s: DrillSummary): string {
  const r = s.stampede;
  const invalid = s.generator.valid
    ? ''
    : `<div class="banner invalid" id="invalid-banner">INVALID RUN: the load generator was saturated (${esc(s.generator.reasons.join('; '))}). These figures describe the drill machine, not the server.</div>`;
  const metricsRows = Object.entries(s.metrics)
    .map(
      ([n, m]) =>
        `<tr><td><code>${esc(n)}</code></td><td>${m.type}</td><td>${esc(metricValues(m))}</td></tr>`,
    )
    .join('');
  const checkRows = s.root_group.checks
    .map(
      (c) =>
        `<tr class="${c.fails ? 'bad' : 'ok'}"><td>${c.fails ? '✗' : '✓'}</td><td>${esc(c.name)}</td><td>${c.passes}</td><td>${c.fails}</td></tr>`,
    )
    .join('');
  const setup = Object.entries(s.setup_data)
    .map(([k, v]) => `${esc(label(k))} ${esc(String(v))}`)
    .join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>stampede drill · ${esc(r.scenario)} · ${esc(r.profile.name)}</title><style>${CSS}</style></head>
<body><main>
<h1>stampede drill: ${esc(r.scenario)}</h1>
<div class="meta">${esc(r.description)}<br>profile <b>${esc(r.profile.name)}</b> (${esc(r.profile.description)}) · ${esc(String(r.executor.executor))} (${r.model} model) ·
target ${esc(r.target.url)}${r.target.embedded ? ' (embedded, started for this run)' : ''} · run tag <code>${esc(r.runTag ?? '')}</code>${r.cleanup ? ` · ${esc(describeCleanup(r.cleanup))}` : ''}<br>
${esc(r.startedAt)} · ${(s.state.testRunDurationMs / 1_000).toFixed(1)} s${r.stoppedEarly ? ' (stopped early)' : ''} · setup: ${setup}</div>
<p class="verdict ${verdictClass(r.exitCode)}" id="verdict">${esc(r.exitReason)} · exit ${r.exitCode}</p>
${invalid}
${figures(s)}
<p class="note">${esc(r.capacityNote)}</p>
${r.warnings.map((w) => `<p class="banner invalid warning">${esc(w)}</p>`).join('\n')}
<h2>Over time</h2>
${charts(s)}
<h2>Alerts of the target</h2>
${alertsBlock(s)}
<h2>Thresholds</h2>
${thresholdTable(s)}
<h2>Audit</h2>
${auditBlock(s)}
<h2>Load generator</h2>
${generatorBlock(s)}
<h2>All metrics</h2>
<table id="metrics"><thead><tr><th>metric</th><th>type</th><th>values</th></tr></thead><tbody>${metricsRows}</tbody></table>
<h2>Checks</h2>
${checkRows ? `<table id="checks"><thead><tr><th></th><th>check</th><th>passes</th><th>fails</th></tr></thead><tbody>${checkRows}</tbody></table>` : '<p>No checks.</p>'}
<h2>Executor</h2>
${executorBlock(s)}
${r.iterationErrors ? `<p class="banner fail">${r.iterationErrors} iterations threw; first: ${esc(r.firstIterationError ?? '')}</p>` : ''}
</main><script>${SCRIPT}</script></body></html>
`;
}
