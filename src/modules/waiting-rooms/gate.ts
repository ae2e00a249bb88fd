/**
 * The waiting-room gate port: per room, a FIFO of waiting entries ordered by join sequence, a
 * pre-queue (entries that joined before the room opened, placed in random order at the opening),
 * an active set with pass expiries, and a heartbeat per waiting entry.
 *
 * Promises (both adapters, proved by one contract suite):
 *   - one entry per user and room: joining again returns the same entry and place (an EXPIRED entry
 *     rejoins at the back; a DONE one stays DONE);
 *   - positions are computed, not stored: a waiting entry's place is its rank by join sequence,
 *     O(log n) (a Fenwick tree in memory, ZRANK in Redis);
 *   - `tick` is the only place entries leave on their own: passes past their expiry become EXPIRED
 *     (their slot frees), waiting entries without a heartbeat since `idleBeforeMs` become EXPIRED
 *     (they never block the line), and the next candidates are named — without being moved: the
 *     caller records the admission in PostgreSQL first, then `admit`s exactly those it recorded;
 *   - every method is atomic (one thread in memory; one Lua script in Redis).
 *
 * The gate is not the truth for who joined or who was admitted: PostgreSQL is (entries and the
 * admission log). A gate that lost its state answers NOT_LOADED and is rebuilt from PostgreSQL.
 */

export type EntryStatus = 'WAITING' | 'ADMITTED' | 'EXPIRED' | 'DONE';

export interface GateEntry {
  userId: string;
  status: EntryStatus;
  /** Join sequence; null while in the pre-queue (assigned at the opening). */
  seq: number | null;
  /** ms since epoch */
  joinedAt: number;
  admittedAt: number | null;
  passExpiresAt: number | null;
  /** 1-based place among waiting entries (WAITING with a seq); null otherwise. */
  position: number | null;
}

/** A room's state as PostgreSQL has it: its WAITING (with or without seq) and ADMITTED entries. */
export interface RoomSnapshot {
  /** The highest join sequence handed out so far. */
  lastSeq: number;
  entries: Omit<GateEntry, 'position'>[];
}

export interface TickInput {
  nowMs: number;
  /** Waiting entries whose last heartbeat is older than this are dropped (EXPIRED). */
  idleBeforeMs: number;
  /** Concurrency cap; null = no cap. */
  maxActive: number | null;
  /** At most this many candidates (the rate budget of this tick). */
  admitMax: number;
}

export interface TickResult {
  /** Admitted entries whose pass expired (slot freed), in no particular order. */
  expired: string[];
  /** Waiting entries dropped for missing heartbeats, in no particular order (a tick may drop only
   * some of them when there are very many; the rest go on the next ticks). */
  dropped: string[];
  /** The next waiting entries, in order, that may be admitted now. */
  candidates: string[];
}

export interface RoomCounts {
  waiting: number;
  active: number;
  prequeue: number;
}

export type Loaded<T> = T | 'NOT_LOADED';

export interface WaitingRoomGate {
  readonly kind: 'memory' | 'redis';
  /** Replaces the room's state with a snapshot from PostgreSQL; heartbeats restart at nowMs. */
  load(roomId: string, snapshot: RoomSnapshot, nowMs: number): Promise<void>;
  /** Joins (or finds) the user's entry; `created` when this call added or re-added it. */
  join(
    roomId: string,
    userId: string,
    nowMs: number,
    opened: boolean,
  ): Promise<Loaded<{ created: boolean; entry: GateEntry }>>;
  /** The user's entry, or null; `heartbeat` refreshes a waiting entry's last-seen time. */
  get(roomId: string, userId: string, nowMs: number, heartbeat: boolean): Promise<Loaded<GateEntry | null>>;
  /** Removes the user's entry wherever it is (leave; or a join whose commit failed); its status before. */
  remove(roomId: string, userId: string): Promise<EntryStatus | null>;
  /** The users in the pre-queue. */
  prequeue(roomId: string): Promise<string[]>;
  /** Moves pre-queue users into the queue in the given order; the sequences they got. */
  open(roomId: string, order: string[]): Promise<{ userId: string; seq: number }[]>;
  /** Expiries, idle drops and the next candidates; see the module comment. */
  tick(roomId: string, input: TickInput): Promise<Loaded<TickResult>>;
  /** Moves these waiting users to the active set; returns those moved (still waiting). */
  admit(roomId: string, userIds: string[], nowMs: number, passExpiresAtMs: number): Promise<string[]>;
  /** An admitted user completed the purchase: DONE, slot freed. False when not admitted. */
  complete(roomId: string, userId: string): Promise<boolean>;
  /** null when not loaded. */
  counts(roomId: string): Promise<RoomCounts | null>;
  /** Forget everything about a room (tests, fault drills). */
  evict(roomId: string): Promise<void>;
}
