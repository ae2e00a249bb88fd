import { type PaidOrderFact, RANKING_RETENTION_DAYS, type RankingStore, utcDay } from './store.js';

interface Day {
  sold: Map<string, number>;
  applied: Set<string>;
}

/** In-process best-seller store for embedded mode (lost on restart; rebuilt from PostgreSQL). */
export class MemoryRankingStore implements RankingStore {
  readonly kind = 'memory' as const;
  private readonly days = new Map<string, Day>();
  private built = false;

  async apply(orders: PaidOrderFact[]): Promise<void> {
    for (const o of orders) {
      let day = this.days.get(o.day);
      if (!day) {
        day = { sold: new Map(), applied: new Set() };
        this.days.set(o.day, day);
        this.prune();
      }
      if (day.applied.has(o.orderId)) continue;
      day.applied.add(o.orderId);
      for (const it of o.items) day.sold.set(it.productId, (day.sold.get(it.productId) ?? 0) + it.quantity);
    }
  }

  async totals(days: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const d of new Set(days)) {
      for (const [p, q] of this.days.get(d)?.sold ?? []) out.set(p, (out.get(p) ?? 0) + q);
    }
    return out;
  }

  async isBuilt(): Promise<boolean> {
    return this.built;
  }

  async markBuilt(): Promise<void> {
    this.built = true;
  }

  private prune(): void {
    const oldest = utcDay(Date.now() - RANKING_RETENTION_DAYS * 86_400_000);
    for (const d of this.days.keys()) if (d < oldest) this.days.delete(d);
  }
}
