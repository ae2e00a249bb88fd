import type {
  EntryStatus,
  GateEntry,
  Loaded,
  RoomCounts,
  RoomSnapshot,
  TickInput,
  TickResult,
  WaitingRoomGate,
} from './gate.js';

/** Counts of waiting entries by join sequence, with O(log n) prefix sums (a Fenwick tree). */
class RankTree {
  private tree = new Int32Array(1024);

  private grow(seq: number): void {
    if (seq < this.tree.length) return;
    let n = this.tree.length;
    while (n <= seq) n *= 2;
    // A Fenwick tree cannot be resized in place: rebuild it from the point values.
    const values = new Int32Array(this.tree.length);
    for (let i = 1; i < this.tree.length; i++) values[i] = this.prefix(i) - this.prefix(i - 1);
    this.tree = new Int32Array(n);
    for (let i = 1; i < values.length; i++) if (values[i]) this.add(i, values[i]);
  }

  add(seq: number, delta: number): void {
    this.grow(seq);
    for (let i = seq; i < this.tree.length; i += i & -i) this.tree[i] += delta;
  }

  /** Waiting entries with a sequence ≤ seq. */
  prefix(seq: number): number {
    let s = 0;
    for (let i = Math.min(seq, this.tree.length - 1); i > 0; i -= i & -i) s += this.tree[i];
    return s;
  }
}

interface Entry {
  userId: string;
  status: EntryStatus;
  seq: number | null;
  joinedAt: number;
  admittedAt: number | null;
  passExpiresAt: number | null;
}

interface Room {
  lastSeq: number;
  entries: Map<string, Entry>;
  /** seq → user, for waiting entries (holes where entries left). */
  bySeq: Map<number, string>;
  /** Lowest seq that may still be waiting: scans for candidates start here. */
  head: number;
  ranks: RankTree;
  prequeue: Set<string>;
  active: Set<string>;
  /** Waiting (and pre-queue) users by last heartbeat, oldest first: a beat re-inserts at the end. */
  beats: Map<string, number>;
}

/**
 * In-process waiting-room gate (embedded mode). Every method runs to completion without awaiting,
 * so each is atomic on Node's one thread, like the Redis adapter's Lua scripts.
 */
export class MemoryWaitingRoomGate implements WaitingRoomGate {
  readonly kind = 'memory' as const;
  private readonly rooms = new Map<string, Room>();

  private view(room: Room, e: Entry): GateEntry {
    return {
      userId: e.userId,
      status: e.status,
      seq: e.seq,
      joinedAt: e.joinedAt,
      admittedAt: e.admittedAt,
      passExpiresAt: e.passExpiresAt,
      position: e.status === 'WAITING' && e.seq !== null ? room.ranks.prefix(e.seq) : null,
    };
  }

  private beat(room: Room, userId: string, nowMs: number): void {
    room.beats.delete(userId);
    room.beats.set(userId, nowMs);
  }

  private enqueue(room: Room, e: Entry): void {
    room.lastSeq += 1;
    e.seq = room.lastSeq;
    room.bySeq.set(e.seq, e.userId);
    room.ranks.add(e.seq, 1);
  }

  private dequeue(room: Room, e: Entry): void {
    if (e.seq === null || room.bySeq.get(e.seq) !== e.userId) return;
    room.bySeq.delete(e.seq);
    room.ranks.add(e.seq, -1);
  }

  async load(roomId: string, snapshot: RoomSnapshot, nowMs: number): Promise<void> {
    const room: Room = {
      lastSeq: snapshot.lastSeq,
      entries: new Map(),
      bySeq: new Map(),
      head: Number.POSITIVE_INFINITY,
      ranks: new RankTree(),
      prequeue: new Set(),
      active: new Set(),
      beats: new Map(),
    };
    for (const s of snapshot.entries) {
      const e: Entry = { ...s };
      room.entries.set(e.userId, e);
      if (e.status === 'WAITING') room.beats.set(e.userId, nowMs);
      if (e.status === 'ADMITTED') room.active.add(e.userId);
      else if (e.status === 'WAITING' && e.seq === null) room.prequeue.add(e.userId);
      else if (e.status === 'WAITING' && e.seq !== null) {
        room.bySeq.set(e.seq, e.userId);
        room.ranks.add(e.seq, 1);
        room.head = Math.min(room.head, e.seq);
        room.lastSeq = Math.max(room.lastSeq, e.seq);
      }
    }
    if (room.head === Number.POSITIVE_INFINITY) room.head = room.lastSeq + 1;
    this.rooms.set(roomId, room);
  }

  async join(
    roomId: string,
    userId: string,
    nowMs: number,
    opened: boolean,
  ): Promise<Loaded<{ created: boolean; entry: GateEntry }>> {
    const room = this.rooms.get(roomId);
    if (!room) return 'NOT_LOADED';
    const had = room.entries.get(userId);
    if (had && had.status !== 'EXPIRED') {
      if (had.status === 'WAITING') this.beat(room, userId, nowMs);
      return { created: false, entry: this.view(room, had) };
    }
    const e: Entry = {
      userId,
      status: 'WAITING',
      seq: null,
      joinedAt: nowMs,
      admittedAt: null,
      passExpiresAt: null,
    };
    room.entries.set(userId, e);
    this.beat(room, userId, nowMs);
    if (opened) this.enqueue(room, e);
    else room.prequeue.add(userId);
    return { created: true, entry: this.view(room, e) };
  }

  async get(
    roomId: string,
    userId: string,
    nowMs: number,
    heartbeat: boolean,
  ): Promise<Loaded<GateEntry | null>> {
    const room = this.rooms.get(roomId);
    if (!room) return 'NOT_LOADED';
    const e = room.entries.get(userId);
    if (!e) return null;
    if (heartbeat && e.status === 'WAITING') this.beat(room, userId, nowMs);
    return this.view(room, e);
  }

  async remove(roomId: string, userId: string): Promise<EntryStatus | null> {
    const room = this.rooms.get(roomId);
    const e = room?.entries.get(userId);
    if (!room || !e) return null;
    this.dequeue(room, e);
    room.prequeue.delete(userId);
    room.active.delete(userId);
    room.beats.delete(userId);
    room.entries.delete(userId);
    return e.status;
  }

  async prequeue(roomId: string): Promise<string[]> {
    return [...(this.rooms.get(roomId)?.prequeue ?? [])];
  }

  async open(roomId: string, order: string[]): Promise<{ userId: string; seq: number }[]> {
    const room = this.rooms.get(roomId);
    if (!room) return [];
    const out: { userId: string; seq: number }[] = [];
    for (const userId of order) {
      const e = room.entries.get(userId);
      if (!room.prequeue.delete(userId) || !e) continue;
      this.enqueue(room, e);
      out.push({ userId, seq: e.seq as number });
    }
    return out;
  }

  async tick(roomId: string, input: TickInput): Promise<Loaded<TickResult>> {
    const room = this.rooms.get(roomId);
    if (!room) return 'NOT_LOADED';
    const expired: string[] = [];
    const dropped: string[] = [];
    for (const userId of room.active) {
      const e = room.entries.get(userId);
      if (e && e.passExpiresAt !== null && e.passExpiresAt <= input.nowMs) {
        e.status = 'EXPIRED';
        room.active.delete(userId);
        expired.push(userId);
      }
    }
    for (const [userId, at] of room.beats) {
      if (at >= input.idleBeforeMs) break; // oldest first: the rest beat later
      const e = room.entries.get(userId);
      room.beats.delete(userId);
      if (e?.status !== 'WAITING') continue;
      this.dequeue(room, e);
      room.prequeue.delete(userId);
      e.status = 'EXPIRED';
      dropped.push(userId);
    }
    const slots = input.maxActive === null ? Number.POSITIVE_INFINITY : input.maxActive - room.active.size;
    const want = Math.max(0, Math.min(slots, input.admitMax));
    const candidates: string[] = [];
    while (room.head <= room.lastSeq && !room.bySeq.has(room.head)) room.head += 1;
    for (let seq = room.head; candidates.length < want && seq <= room.lastSeq; seq++) {
      const userId = room.bySeq.get(seq);
      if (userId !== undefined) candidates.push(userId);
    }
    return { expired, dropped, candidates };
  }

  async admit(roomId: string, userIds: string[], nowMs: number, passExpiresAtMs: number): Promise<string[]> {
    const room = this.rooms.get(roomId);
    if (!room) return [];
    const moved: string[] = [];
    for (const userId of userIds) {
      const e = room.entries.get(userId);
      if (e?.status !== 'WAITING' || e.seq === null) continue;
      this.dequeue(room, e);
      room.beats.delete(userId);
      e.status = 'ADMITTED';
      e.admittedAt = nowMs;
      e.passExpiresAt = passExpiresAtMs;
      room.active.add(userId);
      moved.push(userId);
    }
    return moved;
  }

  async complete(roomId: string, userId: string): Promise<boolean> {
    const room = this.rooms.get(roomId);
    const e = room?.entries.get(userId);
    if (!room || !e || e.status !== 'ADMITTED') return false;
    e.status = 'DONE';
    room.active.delete(userId);
    return true;
  }

  async counts(roomId: string): Promise<RoomCounts | null> {
    const room = this.rooms.get(roomId);
    if (!room) return null;
    return { waiting: room.bySeq.size, active: room.active.size, prequeue: room.prequeue.size };
  }

  async evict(roomId: string): Promise<void> {
    this.rooms.delete(roomId);
  }
}
