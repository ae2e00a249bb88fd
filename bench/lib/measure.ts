/**
 * One measured run with what a report prints beside its figures: where the CPU went during it
 * (bench/lib/cpu.ts) and, when the target is a stampede server, the group-commit figures of one
 * committer and the server-side mean latency of one route, from /metrics scraped before and after.
 */
import { type CpuScope, type CpuSplit, cpuDelta, cpuSnapshot } from './cpu.js';
import { type CommitFigures, commitFigures, scrape } from './server-metrics.js';

export interface MetricsTarget {
  base: string;
  /** Group committer name, as in stampede_group_commit_* `committer`. */
  committer: string;
  /** Route as in http_request_duration_seconds `route`. */
  route: string;
}

export interface Measured<T> {
  run: T;
  cpu: CpuSplit;
  /** Absent when there was no target or a scrape failed. */
  commit?: CommitFigures;
}

/** Runs `run` between CPU snapshots (and /metrics scrapes of `target`); `seconds` of the run divide. */
export async function measured<T extends { seconds: number }>(
  scope: CpuScope,
  target: MetricsTarget | null,
  run: () => Promise<T>,
): Promise<Measured<T>> {
  const m0 = target ? await scrape(target.base).catch(() => null) : null;
  const c0 = cpuSnapshot(scope);
  const r = await run();
  const c1 = cpuSnapshot(scope);
  const m1 = m0 && target ? await scrape(target.base).catch(() => null) : null;
  const out: Measured<T> = { run: r, cpu: cpuDelta(c0, c1, r.seconds) };
  if (m0 && m1 && target) out.commit = commitFigures(m0, m1, r.seconds, target.committer, target.route);
  return out;
}
