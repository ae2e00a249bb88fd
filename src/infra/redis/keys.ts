/**
 * The one place Redis key names are built. Every key of one coupon carries the hash tag
 * `{coupon:<id>}` so all keys a script touches live in one Redis Cluster slot.
 */
export interface Keys {
  /** Units the gate may still hand out (string integer). Absent = gate not loaded. */
  couponRemaining(couponId: string): string;
  /** Users who hold or are being given the coupon (set). */
  couponUsers(couponId: string): string;
  /** Pending reservations: user id → reservation time in ms (sorted set). */
  couponPending(couponId: string): string;
  /** Staging set used while the gate is rebuilt from PostgreSQL. */
  couponUsersStaging(couponId: string): string;
  /** Lock held by the process running the reconciler pass. */
  reconcilerLock(): string;
  /** Cached product detail (JSON string, PX ≤ 1 s). */
  productCache(productId: string): string;
  /** Cached page of the product list (JSON string, PX ≤ 1 s). */
  productPageCache(cursor: string, limit: number): string;
  /** Best sellers of one UTC day: product id → units sold (sorted set). All days share `{ranking}`. */
  rankingDay(day: string): string;
  /** Order ids already counted into rankingDay(day) (set): makes each order count once. */
  rankingApplied(day: string): string;
  /** Present once the ranking has been rebuilt from PostgreSQL since Redis last lost its data. */
  rankingBuilt(): string;
}

export function createKeys(prefix: string): Keys {
  const c = (id: string) => `${prefix}{coupon:${id}}`;
  return {
    couponRemaining: (id) => `${c(id)}:remaining`,
    couponUsers: (id) => `${c(id)}:users`,
    couponPending: (id) => `${c(id)}:pending`,
    couponUsersStaging: (id) => `${c(id)}:users:staging`,
    reconcilerLock: () => `${prefix}reconciler:lock`,
    productCache: (id) => `${prefix}cache:product:${id}`,
    productPageCache: (cursor, limit) => `${prefix}cache:products:${cursor}:${limit}`,
    rankingDay: (day) => `${prefix}{ranking}:day:${day}`,
    rankingApplied: (day) => `${prefix}{ranking}:applied:${day}`,
    rankingBuilt: () => `${prefix}{ranking}:built`,
  };
}
