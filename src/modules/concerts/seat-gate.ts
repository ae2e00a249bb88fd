/**
 * The seat gate port: the fast shield in front of PostgreSQL for numbered seats, a gate of another
 * shape than the admission protocol's (one unit per claimant out of a remaining count). One state
 * per schedule: which seats PostgreSQL has committed (held, by whom and until when, or sold) — so
 * a hold for a seat already taken can be refused (SEAT_UNAVAILABLE, HOLD_LIMIT) without touching
 * the database.
 *
 * The gate refuses only on what PostgreSQL has committed, never on a guess. Two holds racing for a
 * free seat both pass and are decided by the commit, in the order they were submitted: a gate that
 * refused the second on the strength of the first's *pending* claim would name a seat nobody holds
 * whenever the first is refused in turn (all or none: one of its other seats was taken) or its
 * commit fails.
 *
 * It is NOT the truth: every hold it lets through is decided by hold_seats_batch in PostgreSQL,
 * so a gate that is wrong (lost, stale, or letting everything through) can only cost speed or, for
 * a bounded time, refuse a seat that was freed elsewhere (a lost release lasts until the entry's
 * own expiry or the next refresh from PostgreSQL). It never makes a seat held or sold twice.
 *
 * Entries carry their own expiry in ms: a hold until a little before its expiresAt (the caller
 * takes a margin, so the gate frees a seat before PostgreSQL does and never blocks a hold past
 * expiry), a sale forever. An entry at or past its expiry is free.
 *
 * Two adapters with identical semantics, proved by one contract suite (test/contract/
 * seat-gate.contract.test.ts): `memory` (embedded mode; each method is atomic because Node runs one
 * thread) and `redis` (cluster mode; each method one Lua script on the schedule's hash-tagged keys).
 */

export type SeatCheck =
  /** Nothing the gate knows stands in the way: the commit decides. */
  | { outcome: 'CLEAR' }
  /** These seats are held (anyone's, the caller's included) or sold. */
  | { outcome: 'SEAT_UNAVAILABLE'; seats: number[] }
  /** The claimant's live holds plus these seats would exceed the limit. */
  | { outcome: 'HOLD_LIMIT' }
  /** The gate has no state for this schedule: the caller loads it from PostgreSQL. */
  | { outcome: 'NOT_LOADED' };

/** What PostgreSQL said about a claimant's seats (or what happened to them since). */
export type SeatSettle = 'HELD' | 'SOLD' | 'FREE';

export interface SeatSnapshot {
  /** Every seat that is sold (untilMs null) or under a live hold, as PostgreSQL has it. */
  taken: { seat: number; holder: string; untilMs: number | null }[];
}

export interface SeatGate {
  readonly kind: 'memory' | 'redis';
  /**
   * Reads, in PostgreSQL's order: the claimant's live holds plus these seats over `limit`? →
   * HOLD_LIMIT; any of these seats held (until > now) or sold? → SEAT_UNAVAILABLE naming them;
   * else CLEAR. Changes nothing.
   */
  check(
    scheduleId: string,
    claimant: string,
    seats: number[],
    nowMs: number,
    limit: number,
  ): Promise<SeatCheck>;
  /**
   * What PostgreSQL committed. HELD: the seats are the claimant's until `untilMs` (unless sold).
   * SOLD: the seats are sold (whoever held them in the gate). FREE: the claimant's holds of these
   * seats go (another claimant's are left alone). Idempotent; a no-op on a schedule not loaded.
   */
  settle(
    scheduleId: string,
    claimant: string,
    seats: number[],
    outcome: SeatSettle,
    untilMs: number,
    nowMs: number,
  ): Promise<void>;
  /** Replaces the schedule's state with a snapshot read from PostgreSQL. */
  load(scheduleId: string, snapshot: SeatSnapshot): Promise<void>;
  /** Forgets the schedule (tests, fault drills): the next check answers NOT_LOADED. */
  evict(scheduleId: string): Promise<void>;
}
