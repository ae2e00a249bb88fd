/**
 * Figures from the server's /metrics (Prometheus text), scraped before and after a measured run:
 * group-commit batches and commit time of one committer, and the server-side mean latency of one
 * route.
 */
import { request } from 'undici';

export interface MetricRow {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseMetrics(text: string): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    rows.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return rows;
}

/** The raw /metrics text. */
export async function metricsText(baseUrl: string): Promise<string> {
  const res = await request(`${baseUrl}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  return res.body.text();
}

export async function scrape(baseUrl: string): Promise<MetricRow[]> {
  return parseMetrics(await metricsText(baseUrl));
}

function metricSum(rows: readonly MetricRow[], name: string, where: Record<string, string> = {}): number {
  let s = 0;
  for (const r of rows) {
    if (r.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => r.labels[k] === v)) s += r.value;
  }
  return s;
}

export interface CommitFigures {
  batches: number;
  batchesPerSec: number;
  meanBatch: number;
  meanCommitMs: number;
  /** Average transactions in flight. */
  commitBusy: number;
  /** `≤le:count` per histogram bucket that saw batches. */
  batchHistogram: string;
  serverMeanMs: number;
}

/** Group-commit figures of `committer` and the mean server-side latency of `route` between two scrapes. */
export function commitFigures(
  before: readonly MetricRow[],
  after: readonly MetricRow[],
  seconds: number,
  committer: string,
  route: string,
): CommitFigures {
  const d = (name: string, where?: Record<string, string>) =>
    metricSum(after, name, where) - metricSum(before, name, where);
  const c = { committer };
  const batches = d('stampede_group_commit_batch_size_count', c);
  const rows = d('stampede_group_commit_batch_size_sum', c);
  const commitSec = d('stampede_group_commit_duration_seconds_sum', c);
  const hist: string[] = [];
  let prev = 0;
  const les = [
    ...new Set(
      after.filter((r) => r.name === 'stampede_group_commit_batch_size_bucket').map((r) => r.labels.le),
    ),
  ];
  for (const le of les) {
    const cum = d('stampede_group_commit_batch_size_bucket', { ...c, le });
    if (cum - prev > 0) hist.push(`≤${le}:${cum - prev}`);
    prev = cum;
  }
  const httpCount = d('http_request_duration_seconds_count', { route });
  const httpSum = d('http_request_duration_seconds_sum', { route });
  return {
    batches,
    batchesPerSec: batches / seconds,
    meanBatch: batches ? rows / batches : 0,
    meanCommitMs: batches ? (commitSec / batches) * 1000 : 0,
    commitBusy: commitSec / seconds,
    batchHistogram: hist.join(' '),
    serverMeanMs: httpCount ? (httpSum / httpCount) * 1000 : 0,
  };
}
