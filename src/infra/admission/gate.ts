/**
 * The admission gate port: the fast shield in front of PostgreSQL for any kind of unit that many
 * clients race for (coupon units, product stock, seats, waiting-room slots). One gate state per key
 * (a coupon, a product...): how many units remain, who holds one, and which reservations are still
 * pending a commit.
 *
 * The gate answers most of a spike (duplicates, sold out) without touching the database and lets
 * through at most one reservation per unit. It is NOT the truth: the kind's group commit re-checks
 * every reservation in PostgreSQL, so a gate that is wrong (lost keys, stale after an outage) can
 * only cost speed, never exactness.
 *
 * Words are the FCFS ones for every kind: a claimant is ISSUED a unit; ALREADY_ISSUED means the
 * claimant already holds one; SOLD_OUT means none is left.
 *
 * Two adapters implement it with identical semantics, proved by one contract suite:
 * `memory` (embedded mode; Node runs one thread, so each method is atomic by construction) and
 * `redis` (cluster mode; each multi-step method is one Lua script on the key's hash-tagged keys).
 */

export type ReserveOutcome = 'RESERVED' | 'ALREADY_ISSUED' | 'SOLD_OUT' | 'NOT_LOADED';

/** What PostgreSQL said about a reservation; see settleUnit-3.lua for the exact effects. */
export type SettleOutcome = 'ISSUED' | 'DUPLICATE' | 'SOLD_OUT' | 'FAILED';

export interface GateSnapshot {
  /** Units left according to PostgreSQL. */
  remaining: number;
  /** Every claimant holding a unit in PostgreSQL. */
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

export interface AdmissionGate {
  readonly kind: 'memory' | 'redis';
  /** Atomically: holder already? none left? else take a unit, remember the claimant and a pending mark. */
  reserve(key: string, claimant: string, nowMs: number): Promise<ReserveOutcome>;
  /** Settle a reservation with what PostgreSQL answered. Idempotent per pending mark. */
  settle(key: string, claimant: string, outcome: SettleOutcome): Promise<void>;
  /**
   * Replace the gate's state with a snapshot read from PostgreSQL. Pending marks are dropped: their
   * requests still settle, and PostgreSQL re-checks them.
   */
  load(key: string, snapshot: GateSnapshot): Promise<void>;
  /** Claimants whose reservation is older than cutoffMs and still pending. */
  stalePending(key: string, cutoffMs: number): Promise<string[]>;
  /** Reconciler step; see resyncUnits-3.lua. */
  resync(key: string, input: ResyncInput): Promise<ResyncResult>;
  /** Units left in the gate, or null when not loaded. */
  remaining(key: string): Promise<number | null>;
  /** Forget everything about a key (tests, fault drills). */
  evict(key: string): Promise<void>;
}

/** A gate call failed because its backend is unreachable or broken (not a business answer). */
export class GateUnavailableError extends Error {
  override name = 'GateUnavailableError';
}
