/**
 * The target's alerts that fired during a run (its live view's alert rules: GET
 * /api/v1/admin/alerts), for the summary and the report's charts: when each one started and
 * resolved, in seconds since the run's start. A target without the endpoint (an older build) or
 * that refuses it gives none, and the run says so in its warnings.
 */
import type { ApiClient } from './api-client.js';
import { asObject, str } from './shape.js';

export interface RunAlert {
  rule: string;
  severity: string;
  state: string;
  startedAt: string;
  resolvedAt?: string;
  /** Seconds since the run started (negative: it was already firing). */
  startedAtSec: number;
  resolvedAtSec?: number;
  value: number;
  threshold: number;
  detail: string;
}

/** Alerts firing at some moment between `from` and `to`; null when the target has no alerts API. */
export async function readRunAlerts(
  api: ApiClient,
  adminToken: string,
  from: Date,
  to: Date,
): Promise<RunAlert[] | null> {
  const res = await api.call('GET', '/api/v1/admin/alerts', { token: adminToken }).catch(() => null);
  if (res?.status !== 200) return null;
  const items = (asObject(res.json, 'alerts').items ?? []) as unknown[];
  const sec = (iso: string) => Math.round((Date.parse(iso) - from.getTime()) / 100) / 10;
  const out: RunAlert[] = [];
  for (const raw of items) {
    const a = asObject(raw, 'alert');
    const startedAt = str(a, 'startedAt', 'alert');
    const resolvedAt = typeof a.resolvedAt === 'string' ? a.resolvedAt : undefined;
    if (Date.parse(startedAt) > to.getTime()) continue;
    if (resolvedAt && Date.parse(resolvedAt) < from.getTime()) continue;
    out.push({
      rule: str(a, 'rule', 'alert'),
      severity: str(a, 'severity', 'alert'),
      state: str(a, 'state', 'alert'),
      startedAt,
      ...(resolvedAt ? { resolvedAt, resolvedAtSec: sec(resolvedAt) } : {}),
      startedAtSec: sec(startedAt),
      value: Number(a.value),
      threshold: Number(a.threshold),
      detail: String(a.detail ?? ''),
    });
  }
  return out.sort((x, y) => x.startedAtSec - y.startedAtSec);
}
