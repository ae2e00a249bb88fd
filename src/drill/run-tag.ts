/**
 * The run tag: every row a drill creates on its target carries it (the admin create endpoints take
 * `runTag`), so a rehearsal's data can be told apart from real data, is left out of best sellers,
 * and can be deleted afterwards with DELETE /api/v1/admin/runs/:runTag (`--cleanup` does it at the
 * end of the run). `drill-<UTC date>-<UTC time>-<6 random hex digits>`: sortable by start, unique
 * across drills started in the same second, within the API's rule (1..64 of [A-Za-z0-9._-]).
 */
import { randomBytes } from 'node:crypto';

export function newRunTag(now = new Date(), random = randomBytes(3).toString('hex')): string {
  const t = now.toISOString(); // 2026-11-28T00:00:03.123Z
  return `drill-${t.slice(0, 10).replaceAll('-', '')}-${t.slice(11, 19).replaceAll(':', '')}-${random}`;
}

/** What DELETE /api/v1/admin/runs/:runTag answered, as the summary keeps it. */
export type RunCleanup =
  | {
      ok: true;
      deleted: Record<string, number>;
      returned: Record<string, number>;
      kept: Record<string, number>;
    }
  | { ok: false; error: string };

/** One line for the console: what was deleted (non-zero counts), given back and kept. */
export function describeCleanup(c: RunCleanup): string {
  if (!c.ok) return `cleanup FAILED: ${c.error}`;
  const list = (o: Record<string, number>) =>
    Object.entries(o)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
  const parts = [`deleted ${list(c.deleted) || 'nothing'}`];
  const back = list(c.returned);
  if (back) parts.push(`gave back ${back}`);
  const kept = list(c.kept);
  if (kept) parts.push(`kept ${kept} (rows outside the run depend on them)`);
  return `cleanup: ${parts.join('; ')}`;
}
