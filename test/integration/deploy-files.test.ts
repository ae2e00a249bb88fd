/**
 * The monitoring files shipped in deploy/ against a real server: the Grafana dashboard imports
 * cleanly (one `DS_PROMETHEUS` input, every query on it, panels on the grid), the Prometheus
 * rules mirror DEFAULT_RULES (same thresholds, severities and `for:`, the burn-rate windows), and
 * every metric either file queries is one a stampede process serves at /metrics — read from its
 * `# TYPE` lines, which prom-client prints even for a metric with no samples yet. With promtool on
 * PATH the files also pass `promtool check config`, `check rules` and the rules' unit tests.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULT_RULES, type Rule } from '../../src/modules/live/rules.js';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  createUsers,
  httpClient,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../support/harness.js';

const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');
const DASHBOARD = path.join(DEPLOY, 'grafana/stampede-dashboard.json');
const PROMETHEUS_DIR = path.join(DEPLOY, 'prometheus');
const RULES = path.join(PROMETHEUS_DIR, 'stampede-alerts.yml');
const CONFIG = path.join(PROMETHEUS_DIR, 'prometheus.yml');
const RULE_TESTS = path.join(PROMETHEUS_DIR, 'stampede-alerts.test.yml');
/** The datasource uid Grafana replaces at import with the Prometheus the user picks. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's import placeholder, not a JS template
const DS_INPUT = '${DS_PROMETHEUS}';

/** Built-in rules with no Prometheus counterpart: no metric carries what they judge. */
const LEFT_TO_BUILT_IN: Record<string, RegExp> = {
  'memory-warning': /memory_?total|machine_memory/,
  'memory-critical': /memory_?total|machine_memory/,
  'pool-warning': /pool/,
  'pool-critical': /pool/,
};

/** PromQL functions and aggregations: an identifier followed by `(` must be one of these. */
const FUNCTIONS = new Set(
  (
    'abs absent absent_over_time acos acosh asin asinh atan atanh avg avg_over_time bottomk ceil changes ' +
    'clamp clamp_max clamp_min cos cosh count count_over_time count_values day_of_month day_of_week ' +
    'day_of_year days_in_month deg delta deriv exp floor group histogram_avg histogram_count ' +
    'histogram_fraction histogram_quantile histogram_stddev histogram_stdvar histogram_sum ' +
    'holt_winters hour idelta increase irate label_join label_replace last_over_time ln log10 log2 ' +
    'mad_over_time max max_over_time min min_over_time minute month pi predict_linear ' +
    'present_over_time quantile quantile_over_time rad rate resets round scalar sgn sin sinh sort ' +
    'sort_desc sqrt stddev stddev_over_time stdvar stdvar_over_time sum sum_over_time tan tanh time ' +
    'timestamp topk vector year'
  ).split(' '),
);
const KEYWORDS = new Set(
  'and or unless bool offset by without on ignoring group_left group_right atan2 inf nan'.split(' '),
);
/** Series Prometheus makes itself, not scraped from stampede. */
const PROMETHEUS_OWN = new Set(['ALERTS', 'ALERTS_FOR_STATE', 'up']);

interface Reference {
  names: string[];
  calls: string[];
}

/** The metric (or recorded) names a PromQL expression selects, and the functions it calls. */
function references(expr: string): Reference {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ') // label values, regexes
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries (Grafana's $__rate_interval too)
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
    .replace(/\$\{[^}]*\}|\$\w+/g, ' '); // Grafana variables
  const names: string[] = [];
  const calls: string[] = [];
  for (const m of bare.matchAll(/(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (
      bare
        .slice(m.index + word.length)
        .trimStart()
        .startsWith('(')
    )
      calls.push(word);
    else names.push(word);
  }
  return { names, calls };
}

/** Grafana's `label_values(selector, label)` variable query → its selector (or nothing). */
function variableSelector(query: string): string {
  const m = /^\s*label_values\((?:(.*),)?\s*\w+\s*\)\s*$/.exec(query);
  return m ? (m[1] ?? '') : query;
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string; datasource?: { type: string; uid: string } }[];
  panels?: Panel[];
}

interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  schemaVersion: number;
  uid: string;
  title: string;
  id: null;
  panels: Panel[];
  templating: {
    list: { name: string; type: string; datasource?: { uid: string }; query: string | { query: string } }[];
  };
}

interface AlertingRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; interval?: string; rules: AlertingRule[] }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const rulesText = readFileSync(RULES, 'utf8');
const ruleFile = parse(rulesText) as RuleFile;
const allRules = ruleFile.groups.flatMap((g) => g.rules);
const alerts = allRules.filter((r) => r.alert);
const recorded = new Set(allRules.flatMap((r) => (r.record ? [r.record] : [])));
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);

/** Every PromQL expression of both files, with where it comes from. */
const expressions: [string, string][] = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t): [string, string] => [`panel "${p.title}"`, t.expr])),
  ...dashboard.templating.list.map((v): [string, string] => [
    `variable $${v.name}`,
    variableSelector(typeof v.query === 'string' ? v.query : v.query.query),
  ]),
  ...allRules.map((r): [string, string] => [`rule ${r.alert ?? r.record}`, r.expr]),
];

const seconds = (d: string) => {
  const m = /^(\d+)(ms|s|m|h|d)$/.exec(d);
  if (!m) throw new Error(`not a Prometheus duration: ${d}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
};

/** A built-in threshold in the unit the PromQL compares: snapshot latencies are in ms, metrics in s. */
const promThreshold = (r: Rule) => (/^http\.(p\d+|mean)$/.test(r.metric) ? r.value / 1000 : r.value);

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
if (!promtool) {
  console.log(
    'deploy-files: promtool is not on PATH; skipping `promtool check config`, `check rules` and ' +
      '`test rules` (Debian: apt-get install --no-install-recommends prometheus)',
  );
}

describe('Grafana dashboard', () => {
  it('imports through one DS_PROMETHEUS input, with every query and variable on it', () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.uid).toBe('stampede-live');
    expect(dashboard.id).toBeNull();
    expect(dashboard.__inputs).toEqual([
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }),
    ]);
    const ds = { type: 'prometheus', uid: DS_INPUT };
    for (const p of panels.filter((p) => p.targets)) {
      expect(p.datasource, p.title).toEqual(ds);
      for (const t of p.targets ?? []) expect(t.datasource, `${p.title} ${t.refId}`).toEqual(ds);
    }
    for (const v of dashboard.templating.list) expect(v.datasource, v.name).toEqual(ds);
    // No datasource uid but the input's anywhere (a hard-coded uid breaks the import elsewhere).
    const uids = [...JSON.stringify(dashboard).matchAll(/"datasource":\{[^}]*"uid":"([^"]*)"/g)].map(
      (m) => m[1],
    );
    expect(new Set(uids)).toEqual(new Set([DS_INPUT, '-- Grafana --']));
  });

  it('lays its panels on the 24-column grid without overlaps, each with a unique id', () => {
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Map<string, string>();
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          const key = `${i},${j}`;
          expect(cells.get(key), `${p.title} overlaps`).toBeUndefined();
          cells.set(key, p.title);
        }
    }
  });

  it('has the panels of the built-in live view', () => {
    const exprOf = (title: RegExp) => {
      const p = panels.find((q) => title.test(q.title));
      expect(p, `a panel titled ${title}`).toBeDefined();
      return (p?.targets ?? []).map((t) => t.expr).join('\n');
    };
    expect(exprOf(/^Requests per second$/)).toContain('http_request_duration_seconds_count');
    const latency = exprOf(/^Latency p50 \/ p95 \/ p99$/);
    for (const q of ['0.50', '0.95', '0.99'])
      expect(latency).toContain(
        `histogram_quantile(${q}, sum by (le) (rate(http_request_duration_seconds_bucket`,
      );
    expect(exprOf(/^Error rate/)).toContain('status=~"5.."');
    expect(exprOf(/^Status mix$/)).toContain('label_replace');
    expect(exprOf(/^Coupon issues by outcome$/)).toContain(
      'sum by (outcome) (rate(stampede_coupon_issue_total',
    );
    const rooms = exprOf(/^Waiting rooms: waiting and active$/) + exprOf(/^Waiting rooms: admitted/);
    for (const m of ['stampede_waiting_room_waiting', 'stampede_waiting_room_active'])
      expect(rooms).toContain(m);
    expect(rooms).toContain('rate(stampede_waiting_room_admitted_total');
    expect(exprOf(/^Seat holds/)).toContain('stampede_seat_holds_total');
    expect(exprOf(/^Seat payments/)).toContain('stampede_seat_payments_total');
    expect(exprOf(/^Group commit: batch size$/)).toContain('stampede_group_commit_batch_size');
    expect(exprOf(/^Group commit: commit latency$/)).toContain(
      'stampede_group_commit_duration_seconds_bucket',
    );
    expect(exprOf(/^Outbox lag$/)).toContain('stampede_outbox_lag_seconds');
    expect(exprOf(/^Event-loop delay p99$/)).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(exprOf(/^Circuit breakers$/)).toContain('stampede_breaker_state');
    expect(exprOf(/^CPU$/)).toContain('process_cpu_seconds_total');
    expect(exprOf(/^Memory$/)).toContain('process_resident_memory_bytes');
    // The pool is not exported: the panel says so instead of querying an invented metric.
    const pool = panels.find((p) => p.title === 'PostgreSQL pool');
    expect(pool?.type).toBe('text');
  });
});

describe('Prometheus rules', () => {
  const byRule = new Map(alerts.map((a) => [a.labels?.rule, a]));

  it('mirror every built-in rule, or say in the file why the built-in engine keeps it', () => {
    for (const r of DEFAULT_RULES) {
      if (r.id in LEFT_TO_BUILT_IN) {
        expect(byRule.has(r.id), r.id).toBe(false);
        expect(rulesText, `${r.id} explained`).toContain(r.id);
        continue;
      }
      const a = byRule.get(r.id);
      expect(a, `an alert labelled rule: ${r.id}`).toBeDefined();
      expect(a?.labels?.severity, r.id).toBe(r.severity);
      if (r.kind === 'threshold') {
        expect(a?.expr, r.id).toMatch(new RegExp(`> ${String(promThreshold(r)).replace('.', '\\.')}$`));
        expect(seconds(a?.for ?? '0s'), r.id).toBe(r.forSeconds);
        expect(seconds(a?.keep_firing_for ?? '0s'), r.id).toBe(r.forSeconds);
      }
      if (r.kind === 'anomaly') {
        expect(a?.expr, r.id).toMatch(new RegExp(`_zscore10m\\)? > ${r.value}\n`));
        expect(seconds(a?.for ?? '0s'), r.id).toBe(r.forSeconds);
      }
      if (r.kind === 'burn-rate') expect(a?.for, r.id).toBeUndefined();
    }
    const ids = new Set(DEFAULT_RULES.map((r) => r.id));
    for (const a of alerts) {
      expect(['page', 'ticket'], a.alert).toContain(a.labels?.severity);
      expect(ids.has(a.labels?.rule ?? ''), `${a.alert} names a built-in rule`).toBe(true);
    }
  });

  it('judge availability over the SRE workbook windows, from recorded error ratios', () => {
    for (const w of ['5m', '30m', '1h', '6h', '1d', '3d']) {
      expect(recorded, w).toContain(`job:stampede_http_errors_per_request:ratio_rate${w}`);
      expect(recorded, w).toContain(`job:stampede_http_requests:rate${w}`);
    }
    const ratio = (w: string, factor: string) =>
      `job:stampede_http_errors_per_request:ratio_rate${w} > ${factor}`;
    const fast = byRule.get('availability-burn-fast')?.expr ?? '';
    for (const [w, f] of [
      ['1h', '(14.4 * 0.001)'],
      ['5m', '(14.4 * 0.001)'],
      ['6h', '(6 * 0.001)'],
      ['30m', '(6 * 0.001)'],
    ])
      expect(fast).toContain(ratio(w, f));
    const slow = byRule.get('availability-burn-slow')?.expr ?? '';
    for (const w of ['3d', '6h']) expect(slow).toContain(ratio(w, '0.001'));
  });

  it('are loaded by a prometheus.yml that scrapes stampede processes at /metrics', () => {
    const config = parse(readFileSync(CONFIG, 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    expect(config.rule_files).toContain('stampede-alerts.yml');
    const job = config.scrape_configs.find((j) => j.job_name.startsWith('stampede'));
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(job?.static_configs.flatMap((s) => s.targets).length).toBeGreaterThan(0);
  });

  it.skipIf(!promtool)('pass promtool check config, check rules and their unit tests', () => {
    for (const args of [
      ['check', 'config', CONFIG],
      ['check', 'rules', RULES],
      ['test', 'rules', RULE_TESTS],
    ]) {
      const run = spawnSync('promtool', args, { cwd: PROMETHEUS_DIR, encoding: 'utf8' });
      expect(run.status, `promtool ${args.join(' ')}\n${run.stdout}${run.stderr}`).toBe(0);
    }
  });
});

describe('metrics the dashboard and the rules query, against a real server', () => {
  let db: TestDatabase;
  let server: TestServer;
  const client = httpClient(8);
  /** Metric name → type, from the `# TYPE` lines of /metrics. */
  const types = new Map<string, string>();

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    server = await startTestServer(db);
    // A little traffic, so the labelled series exist too (coupons, group commits, statuses).
    const [user] = await createUsers(server.url, 1);
    const coupon = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
      token: ADMIN_TOKEN,
      body: { name: 'deploy-files', discount: { type: 'AMOUNT', value: 100 }, quantity: 1 },
    });
    expect(coupon.status).toBe(201);
    const issue = `${server.url}/api/v1/coupons/${coupon.body.id}/issue`;
    expect((await client.call('POST', issue, { token: user.token })).status).toBe(201);
    expect((await client.call('POST', issue, { token: user.token })).status).toBe(409);
    expect((await client.call('GET', `${server.url}/api/v1/no-such-route`)).status).toBe(404);
    const metrics = await client.call('GET', `${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    for (const m of String(metrics.body).matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1], m[2]);
  });
  afterAll(async () => {
    await client.close();
    await server?.close();
    await db?.drop();
  });

  /** The served metric a queried name belongs to (a histogram's _bucket/_sum/_count → the histogram). */
  const served = (name: string) => {
    if (types.has(name)) return name;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    return base !== name && types.get(base) === 'histogram' ? base : undefined;
  };

  it('queries only metrics a stampede process serves, and only PromQL functions', () => {
    expect(types.get('http_request_duration_seconds')).toBe('histogram');
    const used = new Set<string>();
    for (const [where, expr] of expressions) {
      const { names, calls } = references(expr);
      for (const c of calls)
        expect(FUNCTIONS.has(c), `${where} calls ${c}(): not a PromQL function`).toBe(true);
      for (const n of names) {
        if (recorded.has(n) || PROMETHEUS_OWN.has(n)) continue;
        const metric = served(n);
        expect(metric, `${where} queries ${n}, which /metrics does not serve`).toBeDefined();
        used.add(metric as string);
      }
    }
    // The extraction found the families the panels are about (it is not silently finding nothing).
    for (const m of [
      'http_request_duration_seconds',
      'stampede_coupon_issue_total',
      'stampede_group_commit_batch_size',
      'stampede_breaker_state',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_p99_seconds',
    ])
      expect(used).toContain(m);
  });

  it('have no metric for what the rules leave to the built-in engine (else write the rule)', () => {
    for (const [id, pattern] of Object.entries(LEFT_TO_BUILT_IN))
      for (const name of types.keys()) expect(pattern.test(name), `${name} could judge ${id}`).toBe(false);
  });
});
