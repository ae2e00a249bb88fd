import { randomBytes } from 'node:crypto';
import { GateUnavailableError } from '../../infra/admission/gate.js';
import type { RedisClient } from '../../infra/redis/client.js';
import type { Keys, RoomKeys, RoomStagingKeys } from '../../infra/redis/keys.js';
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

/** Entries at most per roomStage call while a room is loaded (six arguments each). */
const LOAD_CHUNK = 5_000;

/**
 * At most this many pass expiries and this many idle drops per tick (see roomTick-6.lua): one tick's
 * work is bounded. What is left over is handled by the next ticks; meanwhile a tick names no
 * candidate at or behind a left-over idle entry (fewer candidates, never a wrong one).
 */
export const TICK_SCAN_LIMIT = 10_000;

/** Status letters of packed entries (`<status>|<seq>|<joinedAt>|<admittedAt>|<passExpiresAt>`). */
const STATUS: Record<string, EntryStatus> = { W: 'WAITING', A: 'ADMITTED', E: 'EXPIRED', D: 'DONE' };
const LETTER: Record<EntryStatus, string> = { WAITING: 'W', ADMITTED: 'A', EXPIRED: 'E', DONE: 'D' };

/** Numbers beyond what Lua and Redis scores read exactly are clamped (a cap of Infinity = no cap). */
const bounded = (n: number) =>
  Number.isNaN(n) ? 0 : Math.max(-Number.MAX_SAFE_INTEGER, Math.min(n, Number.MAX_SAFE_INTEGER));

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new GateUnavailableError(`redis waiting-room gate: ${(err as Error).message}`, { cause: err });
  }
}

function unexpected(script: string, reply: unknown): GateUnavailableError {
  return new GateUnavailableError(`${script} returned an unexpected reply ${JSON.stringify(reply)}`);
}

/** A packed entry and its ZRANK-based place (0 = none) as the port's entry. */
function decodeEntry(userId: string, packed: string, position: number): GateEntry {
  const fields = packed.split('|');
  const status = STATUS[fields[0]];
  if (fields.length !== 5 || !status) throw unexpected('entry', packed);
  const num = (v: string) => (v === '' ? null : Number(v));
  return {
    userId,
    status,
    seq: num(fields[1]),
    joinedAt: Number(fields[2]),
    admittedAt: num(fields[3]),
    passExpiresAt: num(fields[4]),
    position: position > 0 ? position : null,
  };
}

/**
 * Cluster-mode waiting-room gate, with the semantics of MemoryWaitingRoomGate (one contract suite
 * proves both). Each method is one Lua script (or one command) over one room's keys, which share
 * the hash tag `{room:<id>}` (one Redis Cluster slot); script codes become typed results here only.
 *
 * `join` and `get` are one round trip each and O(log n) (ZRANK; no loop). `tick` is bounded by
 * TICK_SCAN_LIMIT expiries and idle drops per call; it lists `expired` by pass expiry and `dropped`
 * by last heartbeat (ties by user id), the same users as the memory gate. `load` stages the snapshot
 * in chunks under keys of its own and publishes it with one script (RENAME), so a reader never sees
 * a half-loaded room.
 */
export class RedisWaitingRoomGate implements WaitingRoomGate {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  private room(roomId: string): RoomKeys {
    return this.keys.room(roomId);
  }

  private static staged(s: RoomStagingKeys): [string, string, string, string, string] {
    return [s.entries, s.waiting, s.prequeue, s.active, s.beats];
  }

  async load(roomId: string, snapshot: RoomSnapshot, nowMs: number): Promise<void> {
    const k = this.room(roomId);
    const staging = RedisWaitingRoomGate.staged(k.staging(randomBytes(8).toString('hex')));
    // The next sequence follows the snapshot's and every waiting entry's (as in memory).
    let lastSeq = snapshot.lastSeq;
    for (const e of snapshot.entries) {
      if (e.status === 'WAITING' && e.seq !== null) lastSeq = Math.max(lastSeq, e.seq);
    }
    try {
      await call(async () => {
        for (let i = 0; i < snapshot.entries.length; i += LOAD_CHUNK) {
          const fields: (string | number)[] = [];
          for (const e of snapshot.entries.slice(i, i + LOAD_CHUNK)) {
            fields.push(
              e.userId,
              LETTER[e.status],
              e.seq ?? '',
              e.joinedAt,
              e.admittedAt ?? '',
              e.passExpiresAt ?? '',
            );
          }
          await this.redis.roomStage(...staging, nowMs, fields);
        }
        await this.redis.roomLoad(
          k.loaded,
          k.seq,
          k.entries,
          k.waiting,
          k.prequeue,
          k.active,
          k.beats,
          ...staging,
          lastSeq,
        );
      });
    } catch (err) {
      // Staging keys expire on their own; deleting them now is only tidier.
      await this.redis.del(...staging).catch(() => {});
      throw err;
    }
  }

  async join(
    roomId: string,
    userId: string,
    nowMs: number,
    opened: boolean,
  ): Promise<Loaded<{ created: boolean; entry: GateEntry }>> {
    const k = this.room(roomId);
    const reply = await call(() =>
      this.redis.roomJoin(
        k.loaded,
        k.seq,
        k.entries,
        k.waiting,
        k.prequeue,
        k.beats,
        userId,
        nowMs,
        opened ? '1' : '0',
      ),
    );
    if (reply[0] === 0) return 'NOT_LOADED';
    if (reply[0] !== 1 && reply[0] !== 2) throw unexpected('roomJoin', reply);
    return { created: reply[0] === 2, entry: decodeEntry(userId, reply[1], reply[2]) };
  }

  async get(
    roomId: string,
    userId: string,
    nowMs: number,
    heartbeat: boolean,
  ): Promise<Loaded<GateEntry | null>> {
    const k = this.room(roomId);
    const reply = await call(() =>
      this.redis.roomGet(k.loaded, k.entries, k.waiting, k.beats, userId, nowMs, heartbeat ? '1' : '0'),
    );
    if (reply[0] === 0) return 'NOT_LOADED';
    if (reply[0] === 1) return null;
    if (reply[0] !== 2) throw unexpected('roomGet', reply);
    return decodeEntry(userId, reply[1], reply[2]);
  }

  async remove(roomId: string, userId: string): Promise<EntryStatus | null> {
    const k = this.room(roomId);
    const reply = await call(() =>
      this.redis.roomRemove(k.loaded, k.entries, k.waiting, k.prequeue, k.active, k.beats, userId),
    );
    if (reply[0] === 0) return null;
    if (reply[0] !== 1) throw unexpected('roomRemove', reply);
    return decodeEntry(userId, reply[1], 0).status;
  }

  async prequeue(roomId: string): Promise<string[]> {
    return call(() => this.redis.zrange(this.room(roomId).prequeue, 0, -1));
  }

  async open(roomId: string, order: string[]): Promise<{ userId: string; seq: number }[]> {
    if (order.length === 0) return [];
    const k = this.room(roomId);
    const seqs = await call(() =>
      this.redis.roomOpen(k.loaded, k.seq, k.entries, k.waiting, k.prequeue, order),
    );
    const out: { userId: string; seq: number }[] = [];
    seqs.forEach((seq, i) => {
      if (seq > 0) out.push({ userId: order[i], seq });
    });
    return out;
  }

  async tick(roomId: string, input: TickInput): Promise<Loaded<TickResult>> {
    const k = this.room(roomId);
    const reply = await call(() =>
      this.redis.roomTick(
        k.loaded,
        k.entries,
        k.waiting,
        k.prequeue,
        k.active,
        k.beats,
        input.nowMs,
        input.idleBeforeMs,
        input.maxActive === null ? '' : bounded(input.maxActive),
        bounded(input.admitMax),
        TICK_SCAN_LIMIT,
      ),
    );
    if (reply[0] === 0) return 'NOT_LOADED';
    if (reply[0] !== 1) throw unexpected('roomTick', reply);
    return { expired: reply[1], dropped: reply[2], candidates: reply[3] };
  }

  async admit(roomId: string, userIds: string[], nowMs: number, passExpiresAtMs: number): Promise<string[]> {
    if (userIds.length === 0) return [];
    const k = this.room(roomId);
    const flags = await call(() =>
      this.redis.roomAdmit(
        k.loaded,
        k.entries,
        k.waiting,
        k.active,
        k.beats,
        nowMs,
        passExpiresAtMs,
        userIds,
      ),
    );
    return userIds.filter((_, i) => flags[i] === 1);
  }

  async complete(roomId: string, userId: string): Promise<boolean> {
    const k = this.room(roomId);
    return (await call(() => this.redis.roomComplete(k.loaded, k.entries, k.active, userId))) === 1;
  }

  async counts(roomId: string): Promise<RoomCounts | null> {
    const k = this.room(roomId);
    const reply = await call(() => this.redis.roomCounts(k.loaded, k.waiting, k.active, k.prequeue));
    if (reply[0] === 0) return null;
    if (reply[0] !== 1) throw unexpected('roomCounts', reply);
    return { waiting: reply[1], active: reply[2], prequeue: reply[3] };
  }

  async evict(roomId: string): Promise<void> {
    const k = this.room(roomId);
    await call(() => this.redis.del(k.loaded, k.seq, k.entries, k.waiting, k.prequeue, k.active, k.beats));
  }
}
