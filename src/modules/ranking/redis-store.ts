import type { RedisClient } from '../../infra/redis/client.js';
import type { Keys } from '../../infra/redis/keys.js';
import { type PaidOrderFact, RANKING_RETENTION_DAYS, type RankingStore } from './store.js';

const TTL_SECONDS = RANKING_RETENTION_DAYS * 86_400;

/**
 * Cluster-mode best-seller store: a sorted set per UTC day plus the set of orders counted into it,
 * all under the `{ranking}` hash tag so a multi-day ZUNION is one slot.
 */
export class RedisRankingStore implements RankingStore {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async apply(orders: PaidOrderFact[]): Promise<void> {
    // Sent back to back (one round trip's worth of latency for the lot); each script is atomic.
    await Promise.all(
      orders.map((o) =>
        this.redis.rankOrder(
          this.keys.rankingDay(o.day),
          this.keys.rankingApplied(o.day),
          o.orderId,
          TTL_SECONDS,
          ...o.items.flatMap((it) => [it.productId, it.quantity]),
        ),
      ),
    );
  }

  async totals(days: string[]): Promise<Map<string, number>> {
    const keys = [...new Set(days)].map((d) => this.keys.rankingDay(d));
    const flat = await this.redis.zunion(keys.length, ...keys, 'WITHSCORES');
    const out = new Map<string, number>();
    for (let i = 0; i < flat.length; i += 2) out.set(flat[i], Number(flat[i + 1]));
    return out;
  }

  async isBuilt(): Promise<boolean> {
    return (await this.redis.exists(this.keys.rankingBuilt())) === 1;
  }

  async markBuilt(): Promise<void> {
    await this.redis.set(this.keys.rankingBuilt(), String(Date.now()));
  }
}
