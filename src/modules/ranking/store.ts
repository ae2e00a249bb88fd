/**
 * The best-seller store port: units sold per product per UTC day, maintained incrementally as paid
 * orders are applied. `apply` is idempotent per order id (each order counts once however often the
 * outbox relay delivers it), which is what keeps the store equal to the SQL aggregation over the
 * same days once every paid order has been applied.
 *
 * Adapters: `memory` (embedded mode; each method runs without awaiting, so it is atomic on Node's
 * one thread) and `redis` (cluster mode; one Lua script per order over the day's hash-tagged keys).
 * One contract suite (test/commerce/ranking-store.contract.test.ts) runs against both.
 */

export interface PaidOrderFact {
  orderId: string;
  /** UTC day the order was paid, YYYYMMDD. */
  day: string;
  items: { productId: string; quantity: number }[];
}

export interface RankingStore {
  readonly kind: 'memory' | 'redis';
  /** Counts each order into its day once; applying an order again changes nothing. */
  apply(orders: PaidOrderFact[]): Promise<void>;
  /** Units sold per product, summed over the given days (products with none are absent). */
  totals(days: string[]): Promise<Map<string, number>>;
  /** True once the store was rebuilt from PostgreSQL since it last lost its data. */
  isBuilt(): Promise<boolean>;
  markBuilt(): Promise<void>;
}

/** Days are kept this long: the widest window (30 days) plus today's partial day and a margin. */
export const RANKING_RETENTION_DAYS = 32;

/** YYYYMMDD of the UTC day containing `ms`. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
}

/** The last `days` UTC days ending today, newest first, and the instant the oldest one starts. */
export function windowOf(days: number, nowMs: number): { days: string[]; startsAt: Date } {
  const today = Date.UTC(
    new Date(nowMs).getUTCFullYear(),
    new Date(nowMs).getUTCMonth(),
    new Date(nowMs).getUTCDate(),
  );
  const list = Array.from({ length: days }, (_, i) => utcDay(today - i * 86_400_000));
  return { days: list, startsAt: new Date(today - (days - 1) * 86_400_000) };
}
