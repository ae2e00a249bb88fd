/**
 * The one place Redis key names are built. All keys of one unit key (one coupon, one product...)
 * carry the hash tag `{<unit>:<id>}`, so every key a script touches lives in one Redis Cluster slot.
 */

/** The keys of one kind of unit's admission gate; see src/infra/admission/redis-gate.ts. */
export interface UnitKeys {
  /** Units the gate may still hand out (string integer). Absent = gate not loaded. */
  remaining(id: string): string;
  /** Claimants who hold or are being given a unit (set). */
  holders(id: string): string;
  /** Pending reservations: claimant → reservation time in ms (sorted set). */
  pending(id: string): string;
  /** Staging set used while the gate is rebuilt from PostgreSQL. */
  staging(id: string): string;
}

/**
 * The keys of one waiting room; see src/modules/waiting-rooms/redis-gate.ts. All carry the hash tag
 * `{room:<id>}` (one Redis Cluster slot per room).
 */
export interface RoomKeys {
  /** Present once the room is loaded (string). Absent = NOT_LOADED: every other key is then ignored. */
  loaded: string;
  /** The highest join sequence handed out so far (string int). */
  seq: string;
  /** User → packed entry `<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>` (hash). */
  entries: string;
  /** Waiting entries with a sequence: user by join sequence (sorted set; ZRANK is the place). */
  waiting: string;
  /** Waiting entries without a sequence (joined before the opening): user by join time (sorted set). */
  prequeue: string;
  /** Admitted entries: user by pass expiry in ms, +inf when none (sorted set). */
  active: string;
  /** Every waiting entry: user by last heartbeat in ms (sorted set). */
  beats: string;
  /** The staging keys of one load (a random token per load, so concurrent loads never mix). */
  staging(token: string): RoomStagingKeys;
}

/** Keys a room is rebuilt under before one script renames them over the live ones. */
export interface RoomStagingKeys {
  entries: string;
  waiting: string;
  prequeue: string;
  active: string;
  beats: string;
}

/** The seat-gate keys of one schedule; see src/modules/concerts/redis-seat-gate.ts. Tag `{seats:<id>}`. */
export interface SeatGateKeys {
  /** Present once the schedule is loaded (string). */
  loaded: string;
  /** Seat number → '<claimant>|<until ms>' or '<claimant>|sold' (hash). */
  seats: string;
  /** Claimant → '<seat>:<until ms>,...' of their unsold entries (hash). */
  holders: string;
}

export interface Keys {
  /** The admission-gate keys of one kind of unit ('coupon', ...). */
  units(unit: string): UnitKeys;
  /** The coupon gate's keys, shorthand of units('coupon') for fault drills and tools. */
  couponRemaining(couponId: string): string;
  couponUsers(couponId: string): string;
  couponPending(couponId: string): string;
  /** A lock held by the one process running `name` (the reconciler of a unit, ...). */
  lock(name: string): string;
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
  /** The waiting-room gate keys of one room. */
  room(roomId: string): RoomKeys;
  /** The seat-gate keys of one concert schedule. */
  seatGate(scheduleId: string): SeatGateKeys;
  /** The live view's frames of every process, last hour (sorted set: score = second, member = JSON). */
  liveFrames(): string;
}

export function createKeys(prefix: string): Keys {
  const units = (unit: string): UnitKeys => {
    const tag = (id: string) => `${prefix}{${unit}:${id}}`;
    // Holders are called `users` in key names: the name coupon gates have always had.
    return {
      remaining: (id) => `${tag(id)}:remaining`,
      holders: (id) => `${tag(id)}:users`,
      pending: (id) => `${tag(id)}:pending`,
      staging: (id) => `${tag(id)}:users:staging`,
    };
  };
  const coupon = units('coupon');
  return {
    units,
    couponRemaining: coupon.remaining,
    couponUsers: coupon.holders,
    couponPending: coupon.pending,
    lock: (name) => `${prefix}lock:${name}`,
    productCache: (id) => `${prefix}cache:product:${id}`,
    productPageCache: (cursor, limit) => `${prefix}cache:products:${cursor}:${limit}`,
    rankingDay: (day) => `${prefix}{ranking}:day:${day}`,
    rankingApplied: (day) => `${prefix}{ranking}:applied:${day}`,
    rankingBuilt: () => `${prefix}{ranking}:built`,
    liveFrames: () => `${prefix}live:frames`,
    seatGate: (scheduleId) => {
      const tag = `${prefix}{seats:${scheduleId}}`;
      return { loaded: `${tag}:loaded`, seats: `${tag}:seats`, holders: `${tag}:holders` };
    },
    room: (roomId) => {
      const tag = `${prefix}{room:${roomId}}`;
      return {
        loaded: `${tag}:loaded`,
        seq: `${tag}:seq`,
        entries: `${tag}:entries`,
        waiting: `${tag}:waiting`,
        prequeue: `${tag}:prequeue`,
        active: `${tag}:active`,
        beats: `${tag}:beats`,
        staging: (token) => ({
          entries: `${tag}:staging:${token}:entries`,
          waiting: `${tag}:staging:${token}:waiting`,
          prequeue: `${tag}:staging:${token}:prequeue`,
          active: `${tag}:staging:${token}:active`,
          beats: `${tag}:staging:${token}:beats`,
        }),
      };
    },
  };
}
