/**
 * The coupon gate port: the hot-path shield in front of PostgreSQL for FCFS issuance.
 *
 * The gate answers most of a spike (duplicates, sold out) without touching the database and lets
 * through at most one request per unit of stock. It is NOT the truth: the group commit re-checks
 * every reservation against PostgreSQL (row lock on the coupon, unique key per user), so a gate that
 * is wrong (lost keys, stale after an outage) can only cost speed, never exactness.
 *
 * Two adapters implement it with identical semantics, proved by one contract suite:
 * `memory` (embedded mode; Node runs one thread, so each method is atomic by construction) and
 * `redis` (cluster mode; each multi-step method is one Lua script on hash-tagged keys).
 */

export type ReserveOutcome = 'RESERVED' | 'ALREADY_ISSUED' | 'SOLD_OUT' | 'NOT_LOADED';

/** What PostgreSQL said about a reservation; see settleCoupon-3.lua for the exact effects. */
export type SettleOutcome = 'ISSUED' | 'DUPLICATE' | 'SOLD_OUT' | 'FAILED';

export interface GateSnapshot {
  /** quantity - issued_count in PostgreSQL. */
  remaining: number;
  /** Everyone holding the coupon in PostgreSQL. */
  holders: string[];
}

export interface ResyncInput {
  /** Remaining according to PostgreSQL, read before the call. */
  remaining: number;
  /** Stale reservations whose row is in PostgreSQL. */
  committed: string[];
  /** Stale reservations with no row in PostgreSQL: their units go back. */
  uncommitted: string[];
}

export interface ResyncResult {
  released: number;
  confirmed: number;
  resynced: boolean;
}

export interface CouponGate {
  readonly kind: 'memory' | 'redis';
  /** Atomically: duplicate? sold out? else take a unit, remember the user and a pending mark. */
  reserve(couponId: string, userId: string, nowMs: number): Promise<ReserveOutcome>;
  /** Settle a reservation with what PostgreSQL answered. Idempotent per pending mark. */
  settle(couponId: string, userId: string, outcome: SettleOutcome): Promise<void>;
  /**
   * Replace the gate's state with a snapshot read from PostgreSQL. Pending marks are dropped: their
   * requests still settle, and PostgreSQL re-checks them.
   */
  load(couponId: string, snapshot: GateSnapshot): Promise<void>;
  /** Users whose reservation is older than cutoffMs and still pending. */
  stalePending(couponId: string, cutoffMs: number): Promise<string[]>;
  /** Reconciler step; see resyncCoupon-3.lua. */
  resync(couponId: string, input: ResyncInput): Promise<ResyncResult>;
  /** Remaining units in the gate, or null when not loaded. */
  remaining(couponId: string): Promise<number | null>;
  /** Forget everything about a coupon (tests, fault drills). */
  evict(couponId: string): Promise<void>;
}

/** A gate call failed because its backend is unreachable or broken (not a business answer). */
export class GateUnavailableError extends Error {
  override name = 'GateUnavailableError';
}
