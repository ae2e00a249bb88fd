/**
 * The shape an operator reads: a merged view of frames (src/infra/live/frames.ts) arranged by
 * subject — HTTP, drops, waiting rooms, seat holds, group commit, outbox, event loop, pool,
 * breakers — and the firing alerts. Rates are per second.
 */
import type { Merged } from '../../infra/live/frames.js';

export interface AlertView {
  id: string;
  rule: string;
  severity: 'page' | 'ticket';
  state: 'FIRING' | 'RESOLVED';
  startedAt: string;
  resolvedAt?: string;
  value: number;
  threshold: number;
  detail: string;
}

export interface Snapshot {
  at: string;
  /** Seconds this snapshot covers (1 in the stream; more in a downsampled history). */
  seconds: number;
  processes: number;
  http: {
    rps: number;
    p50: number | null;
    p95: number | null;
    p99: number | null;
    mean: number | null;
    errorRate: number;
    statuses: Record<string, number>;
    routes: { route: string; rps: number; errorRate: number }[];
  };
  coupons: { couponId: string; perSecond: Record<string, number> }[];
  waitingRooms: { roomId: string; waiting: number; active: number; admittedPerSecond: number }[];
  concerts: { holdsPerSecond: Record<string, number>; paymentsPerSecond: Record<string, number> };
  orders: { perSecond: Record<string, number> };
  commits: {
    batchesPerSecond: number;
    rowsPerSecond: number;
    meanBatch: number | null;
    meanCommitMs: number | null;
    depth: number;
  };
  outbox: { deliveredPerSecond: Record<string, number>; lagSeconds: Record<string, number> };
  eventLoop: { p99Ms: number };
  process: {
    cpuCores: number;
    maxCpuCores: number;
    rssBytes: number;
    heapUsedBytes: number;
    memoryShare: number;
  };
  pool: { total: number; idle: number; waiting: number; inUseShare: number };
  breakers: Record<string, 'closed' | 'half-open' | 'open'>;
  alerts: AlertView[];
}

/** Entries of `rec` whose key starts with `prefix.`, keyed by the rest. */
function under(rec: Record<string, number>, prefix: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(rec))
    if (k.startsWith(`${prefix}.`)) out[k.slice(prefix.length + 1)] = v;
  return out;
}

const BREAKER = ['closed', 'half-open', 'open'] as const;

export function toSnapshot(m: Merged, alerts: AlertView[]): Snapshot {
  const coupons = new Map<string, Record<string, number>>();
  for (const [k, v] of Object.entries(under(m.rates, 'coupons'))) {
    const [couponId, outcome] = k.split('.');
    const c = coupons.get(couponId) ?? {};
    c[outcome] = v;
    coupons.set(couponId, c);
  }
  const rooms = new Map<string, { waiting: number; active: number; admittedPerSecond: number }>();
  const room = (id: string) => {
    let r = rooms.get(id);
    if (!r) {
      r = { waiting: 0, active: 0, admittedPerSecond: 0 };
      rooms.set(id, r);
    }
    return r;
  };
  for (const [k, v] of Object.entries(under(m.gauges, 'room'))) {
    const [id, what] = k.split('.');
    if (what === 'waiting' || what === 'active') room(id)[what] = v;
  }
  for (const [id, v] of Object.entries(under(m.rates, 'rooms.admitted'))) room(id).admittedPerSecond = v;
  const batches = m.rates['commits.rows.count'] ?? 0;
  const commitSeconds = m.rates['commits.seconds'] ?? 0;
  const breakers: Snapshot['breakers'] = {};
  for (const [name, v] of Object.entries(under(m.gauges, 'breaker'))) breakers[name] = BREAKER[v] ?? 'open';
  const g = (k: string) => m.gauges[k] ?? 0;
  return {
    at: new Date(m.at).toISOString(),
    seconds: m.seconds,
    processes: m.processes,
    http: {
      rps: m.rps,
      p50: m.p50,
      p95: m.p95,
      p99: m.p99,
      mean: m.mean,
      errorRate: m.errorRate,
      statuses: m.statuses,
      routes: m.routes,
    },
    coupons: [...coupons.entries()].map(([couponId, perSecond]) => ({ couponId, perSecond })),
    waitingRooms: [...rooms.entries()].map(([roomId, r]) => ({ roomId, ...r })),
    concerts: { holdsPerSecond: under(m.rates, 'holds'), paymentsPerSecond: under(m.rates, 'payments') },
    orders: { perSecond: under(m.rates, 'orders') },
    commits: {
      batchesPerSecond: batches,
      rowsPerSecond: m.rates['commits.rows'] ?? 0,
      meanBatch: batches > 0 ? (m.rates['commits.rows'] ?? 0) / batches : null,
      meanCommitMs: batches > 0 ? (commitSeconds / batches) * 1000 : null,
      depth: g('commits.depth'),
    },
    outbox: {
      deliveredPerSecond: under(m.rates, 'outbox.delivered'),
      lagSeconds: under(m.gauges, 'outbox.lagSeconds'),
    },
    eventLoop: { p99Ms: g('eventLoop.p99Ms') },
    process: {
      cpuCores: g('process.cpuCores'),
      maxCpuCores: g('process.maxCpuCores'),
      rssBytes: g('process.rssBytes'),
      heapUsedBytes: g('process.heapUsedBytes'),
      memoryShare: g('process.memoryShare'),
    },
    pool: {
      total: g('pool.total'),
      idle: g('pool.idle'),
      waiting: g('pool.waiting'),
      inUseShare: g('pool.inUseShare'),
    },
    breakers,
    alerts,
  };
}
