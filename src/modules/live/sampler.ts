/**
 * What a frame carries besides requests: how far each business counter moved during the second
 * (read from the process's Prometheus counters, so the live view and /metrics can never disagree)
 * and gauges of the process (event-loop delay, CPU, memory, the PostgreSQL pool, group-commit
 * depth, outbox lag, breakers, waiting rooms, open streams).
 */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { Metrics } from '../../infra/metrics.js';
import type { Pool } from '../../infra/postgres/pool.js';

type AnyCounter = Counter<string> | Histogram<string>;

/**
 * Counter name in frames → the Prometheus metric and the labels whose values split it, joined
 * with dots: `coupons.<coupon id>.<outcome>`, `holds.<outcome>`. A histogram gives its sum
 * (`commits.rows`) and its count (`commits.rows.count`).
 */
function counters(m: Metrics): [string, AnyCounter, string[]][] {
  return [
    ['coupons', m.couponIssue, ['coupon_id', 'outcome']],
    ['orders', m.orders, ['outcome']],
    ['holds', m.seatHolds, ['outcome']],
    ['payments', m.seatPayments, ['outcome']],
    ['charges', m.pointCharges, ['outcome']],
    ['rooms.joined', m.waitingRoomJoins, []],
    ['rooms.admitted', m.waitingRoomAdmitted, ['room']],
    ['rooms.dropped', m.waitingRoomDropped, []],
    ['outbox.delivered', m.outboxDeliveries, ['destination']],
    ['commits.rows', m.commitBatchSize, []],
    ['commits.seconds', m.commitDuration, []],
  ];
}

/** Totals of one counter (or a histogram's sum and count), split by `labels`. */
async function totals(name: string, metric: AnyCounter, labels: string[], into: Map<string, number>) {
  const { values } = await metric.get();
  for (const v of values) {
    const metricName = (v as { metricName?: string }).metricName;
    if (metricName?.endsWith('_bucket')) continue;
    const key = metricName?.endsWith('_count')
      ? `${name}.count`
      : [name, ...labels.map((l) => String(v.labels[l] ?? 'other'))].join('.');
    into.set(key, (into.get(key) ?? 0) + v.value);
  }
}

async function gaugeValues(
  g: Gauge<string>,
): Promise<{ labels: Partial<Record<string, string | number>>; value: number }[]> {
  return (await g.get()).values;
}

export class Sampler {
  private last = new Map<string, number>();
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private cpu = process.cpuUsage();
  private cpuAt = performance.now();

  constructor(
    private readonly metrics: Metrics,
    private readonly pool: Pool,
    private readonly commitDepth: () => number,
  ) {
    this.loop.enable();
  }

  /** How much every counter moved since the previous call (0s left out). */
  async counts(): Promise<Record<string, number>> {
    const now = new Map<string, number>();
    for (const [name, metric, labels] of counters(this.metrics)) await totals(name, metric, labels, now);
    const out: Record<string, number> = {};
    for (const [k, v] of now) {
      const d = v - (this.last.get(k) ?? 0);
      if (d > 0) out[k] = d;
    }
    this.last = now;
    return out;
  }

  async gauges(): Promise<{ sum: Record<string, number>; max: Record<string, number> }> {
    const m = this.metrics;
    const cpu = process.cpuUsage(this.cpu);
    const t = performance.now();
    const cores = (cpu.user + cpu.system) / 1000 / (t - this.cpuAt);
    this.cpu = process.cpuUsage();
    this.cpuAt = t;
    const loopP99 = this.loop.percentile(99) / 1e6;
    this.loop.reset();
    const mem = process.memoryUsage();
    const sum: Record<string, number> = {
      'pool.total': this.pool.totalCount,
      'pool.idle': this.pool.idleCount,
      'pool.waiting': this.pool.waitingCount,
      'commits.depth': this.commitDepth(),
      'process.rssBytes': mem.rss,
      'process.cpuCores': cores,
    };
    const max: Record<string, number> = {
      'eventLoop.p99Ms': Number.isFinite(loopP99) ? loopP99 : 0,
      'process.maxCpuCores': cores,
      'process.heapUsedBytes': mem.heapUsed,
      'process.memoryShare': mem.rss / os.totalmem(),
      'pool.inUseShare': this.pool.options.max
        ? (this.pool.totalCount - this.pool.idleCount) / this.pool.options.max
        : 0,
    };
    for (const v of await gaugeValues(m.openStreams))
      sum['streams.open'] = (sum['streams.open'] ?? 0) + v.value;
    for (const v of await gaugeValues(m.outboxLag))
      max[`outbox.lagSeconds.${v.labels.destination}`] = v.value;
    for (const v of await gaugeValues(m.breakerState)) max[`breaker.${v.labels.breaker}`] = v.value;
    // One process (the admitter) reports a room's line; the others may hold an older value.
    for (const v of await gaugeValues(m.waitingRoomWaiting)) max[`room.${v.labels.room}.waiting`] = v.value;
    for (const v of await gaugeValues(m.waitingRoomActive)) max[`room.${v.labels.room}.active`] = v.value;
    return { sum, max };
  }

  close(): void {
    this.loop.disable();
  }
}
