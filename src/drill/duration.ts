/**
 * k6 duration strings → milliseconds: "30s", "2m", "1m30s", "1h", "500ms", "1.5s". A bare number is
 * seconds (as in k6's CLI). Throws a DrillUsageError naming the bad value.
 */
import { DrillUsageError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

export function parseDuration(raw: string, what = 'duration'): number {
  const text = raw.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1_000);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(part)) {
    total += Number(m[1]) * UNIT_MS[m[2]];
    consumed += m[0].length;
  }
  if (text === '' || consumed !== text.length) {
    throw new DrillUsageError(`${what} must look like 30s, 2m, 1m30s or 500ms; got "${raw}".`);
  }
  return Math.round(total);
}

/** Milliseconds → the shortest k6-style string ("1m30s", "500ms"). */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const totalSec = Math.round(ms / 100) / 10;
  const h = Math.floor(totalSec / 3600);
  const m = Math.floor((totalSec % 3600) / 60);
  const s = Math.round((totalSec % 60) * 10) / 10;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
