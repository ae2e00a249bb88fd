/**
 * A VU in a waiting room, as the waiting-room page behaves: join (POST entries), then wait for the
 * pass on the entry's event stream (GET entries/me/events — an open stream is the heartbeat) until
 * `admitted` brings it or `expired` ends the wait. A stream that fails, is refused or ends without
 * a verdict falls back to polling the entry (GET entries/me) about every second. Shared by every
 * scenario whose crowd lines up before it may buy (waiting-room, concert); the scenario records
 * what the wait meant for it.
 *
 * Requests are named `join`, `events` and `entry`; join 201/200, the stream's 200 and reads' 200
 * are the expected answers (a stream of an entry that is gone answers 404: the poll then reads it).
 */
import { asObject, str } from '../shape.js';
import type { VirtualUser } from '../vu.js';

const JOIN_EXPECT = { 200: true, 201: true } as const;
const READ_EXPECT = { 200: true } as const;
const STREAM_EXPECT = { 200: true } as const;
/** About one read per second per waiting user. */
export const POLL_MS = 1_000;

/** An entry as the room answers it: WAITING, ADMITTED (with its pass), EXPIRED or DONE. */
export interface EntryAnswer {
  status: string;
  pass?: string;
}

export function entryOf(json: unknown): EntryAnswer | null {
  try {
    const o = asObject(json, 'entry');
    const status = str(o, 'status', 'entry');
    return { status, pass: typeof o.pass === 'string' ? o.pass : undefined };
  } catch {
    return null;
  }
}

/** One user's place in one room. */
export interface RoomSeat {
  roomId: string;
  token: string;
}

export interface WaitHooks {
  /**
   * Runs while the user waits: on every stream event (not awaited; a failure is ignored) and
   * before every poll (awaited). The waiting-room scenario samples the room here.
   */
  whileWaiting?(): Promise<void>;
  /** The stream ended (not by the drill stopping): did it bring the verdict? */
  onStreamEnd?(pushed: boolean): void;
}

function entriesPath(roomId: string): string {
  return `/api/v1/waiting-rooms/${encodeURIComponent(roomId)}/entries`;
}

/**
 * Joins the room: null when the join was not answered 201 or 200; else the entry it answered
 * (201 new, 200 the one the user has), null when that answer had no status.
 */
export async function joinRoom(
  vu: VirtualUser,
  seat: RoomSeat,
): Promise<{ entry: EntryAnswer | null } | null> {
  const join = await vu.request({
    method: 'POST',
    path: entriesPath(seat.roomId),
    name: 'join',
    token: seat.token,
    expect: JOIN_EXPECT,
  });
  vu.check(join.expected, 'join answered 201 or 200');
  if (!join.expected) return null;
  const entry = entryOf(join.json);
  vu.check(entry !== null, 'an entry has a status');
  return { entry };
}

/**
 * Waits from the entry the join answered until it is no longer WAITING: resolves to the entry as
 * last read (ADMITTED with its pass, EXPIRED, DONE; null when it could not be read), or null when
 * the VU was stopped while waiting.
 */
export async function waitForPass(
  vu: VirtualUser,
  seat: RoomSeat,
  joined: EntryAnswer | null,
  hooks: WaitHooks = {},
): Promise<{ entry: EntryAnswer | null } | null> {
  const path = entriesPath(seat.roomId);
  let e = joined;
  if (e && e.status === 'WAITING') {
    // The event stream first: `admitted` carries the pass, `expired` ends the wait.
    let streamed: EntryAnswer | null = null;
    const end = await vu
      .stream(
        { path: `${path}/me/events`, name: 'events', token: seat.token, expect: STREAM_EXPECT },
        (ev) => {
          if (hooks.whileWaiting) void hooks.whileWaiting().catch(() => {});
          if (ev.event !== 'admitted' && ev.event !== 'expired') return false;
          try {
            streamed = entryOf(JSON.parse(ev.data)) ?? { status: 'EXPIRED' };
          } catch {
            streamed = { status: 'EXPIRED' };
          }
          return true;
        },
      )
      .catch((err) => {
        if (vu.signal.aborted) return null;
        throw err;
      });
    if (!end || vu.signal.aborted) return null;
    hooks.onStreamEnd?.(streamed !== null);
    if (streamed) e = streamed;
  }
  // Fallback: poll the entry (a stream that failed, was refused, or ended without a verdict).
  while (e && e.status === 'WAITING' && !vu.signal.aborted) {
    await vu.sleep(POLL_MS * (0.9 + 0.2 * vu.rng()));
    if (vu.signal.aborted) return null;
    await hooks.whileWaiting?.();
    const read = await vu.request({
      method: 'GET',
      path: `${path}/me`,
      name: 'entry',
      token: seat.token,
      expect: READ_EXPECT,
    });
    vu.check(read.expected, 'entry read answered 200');
    if (!read.expected) continue; // a failed read is retried at the next poll
    e = entryOf(read.json);
  }
  if (vu.signal.aborted) return null;
  return { entry: e };
}
