/**
 * Best sellers: top N products by units sold in paid orders over the last D UTC days (today
 * included). The incremental store is fed by the outbox relay (each order.paid event, at least
 * once; the store counts each order once), so it equals the SQL aggregation over the same days as
 * soon as the relay has caught up (normally well under a second). When the store fails, the answer
 * comes from that SQL aggregation instead: slower, same result.
 *
 * Rehearsals (rows with a run tag, migrations/006_run_tags.sql) are not sales: the store only ever
 * holds counted lines — those of untagged users' orders for untagged products — so the default
 * answer needs no filtering at read time. Applying an order counts the lines PostgreSQL confirms
 * as counted (one query per relay chunk; a tag never changes, so the answer cannot go stale), and
 * the replay reads counted lines only. `includeDrill` (rare: checking a rehearsal's effect) is
 * answered from SQL over every line rather than from a second store: one code path, no second set
 * of keys to keep in step, and it is exact.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../../infra/metrics.js';
import type { CatalogService } from '../catalog/service.js';
import type { RankingRepository } from './repository.js';
import { type PaidOrderFact, RANKING_RETENTION_DAYS, type RankingStore, utcDay, windowOf } from './store.js';

export interface BestSeller {
  productId: string;
  name: string;
  price: number;
  soldQuantity: number;
}

const REPLAY_CHUNK = 5_000;

/** Most sold first; ties by the smaller product id, so every reader agrees on the order. */
export function rank(totals: Map<string, number>, limit: number): { productId: string; sold: number }[] {
  return [...totals]
    .filter(([, q]) => q > 0)
    .sort(([a, qa], [b, qb]) => qb - qa || (BigInt(a) < BigInt(b) ? -1 : 1))
    .slice(0, limit)
    .map(([productId, sold]) => ({ productId, sold }));
}

export class RankingService {
  constructor(
    private readonly store: RankingStore,
    private readonly repo: RankingRepository,
    private readonly catalog: CatalogService,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  get storeKind() {
    return this.store.kind;
  }

  /**
   * Counts paid orders into the store (idempotent per order), their counted lines only: a line of
   * a tagged user or product, or of an order PostgreSQL no longer has, is left out.
   */
  async apply(orders: { orderId: string; paidAt: string | Date }[]): Promise<void> {
    const counted = await this.repo.countedLines(orders.map((o) => o.orderId));
    const byOrder = new Map<string, { productId: string; quantity: number }[]>();
    for (const [line, quantity] of counted) {
      const [orderId, productId] = line.split(':');
      byOrder.set(orderId, [...(byOrder.get(orderId) ?? []), { productId, quantity }]);
    }
    const facts: PaidOrderFact[] = [];
    for (const o of orders) {
      const items = byOrder.get(o.orderId);
      if (items) facts.push({ orderId: o.orderId, day: utcDay(new Date(o.paidAt).getTime()), items });
    }
    if (facts.length) await this.store.apply(facts);
  }

  /** Units sold per product over the window, from the store (falls back to SQL if it fails). */
  async totals(days: number, nowMs = Date.now()): Promise<Map<string, number>> {
    const w = windowOf(days, nowMs);
    try {
      return await this.store.totals(w.days);
    } catch (err) {
      this.metrics.rankingErrors.inc({ op: 'totals' });
      this.log.warn({ err }, 'best-seller store failed; answering from PostgreSQL');
      return this.repo.soldSince(w.startsAt);
    }
  }

  /** The SQL aggregation over the same window (the truth the store must equal; with `includeDrill`, every line). */
  totalsFromSql(days: number, nowMs = Date.now(), includeDrill = false): Promise<Map<string, number>> {
    return this.repo.soldSince(windowOf(days, nowMs).startsAt, includeDrill);
  }

  /** The top `limit` over `days` days; rehearsal orders and products only with `includeDrill` (from SQL). */
  async popular(days: number, limit: number, includeDrill = false): Promise<BestSeller[]> {
    const totals = includeDrill ? await this.totalsFromSql(days, Date.now(), true) : await this.totals(days);
    const top = rank(totals, limit);
    const products = await this.catalog.getMany(top.map((t) => t.productId));
    return top.flatMap((t) => {
      const p = products.get(t.productId);
      return p ? [{ productId: t.productId, name: p.name, price: p.price, soldQuantity: t.sold }] : [];
    });
  }

  /**
   * Rebuilds the store from PostgreSQL when it has lost its data (new process in embedded mode,
   * Redis restarted empty): every paid order of the retention window is applied again. Applying is
   * idempotent per order, so this can run while the relay applies new orders, in any number of
   * processes, without counting anything twice.
   */
  async ensureBuilt(): Promise<boolean> {
    if (await this.store.isBuilt()) return false;
    const since = windowOf(RANKING_RETENTION_DAYS, Date.now()).startsAt;
    let after = '0';
    let total = 0;
    for (;;) {
      const rows = await this.repo.paidOrders(since, after, REPLAY_CHUNK);
      if (rows.length === 0) break;
      // Counted lines only already (paidOrders filters them).
      await this.store.apply(
        rows.map((o) => ({ orderId: o.orderId, day: utcDay(new Date(o.paidAt).getTime()), items: o.items })),
      );
      total += rows.length;
      after = rows[rows.length - 1].orderId;
    }
    await this.store.markBuilt();
    this.log.info({ orders: total, store: this.store.kind }, 'best-seller store rebuilt from PostgreSQL');
    return true;
  }
}
