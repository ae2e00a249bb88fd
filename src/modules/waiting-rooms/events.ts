/**
 * Live entry streams (SSE): `position` on change (at most once a second) and at least every 5 s, `admitted` (with the
 * pass) and `expired`; an open stream is a heartbeat. One pump timer for every stream of the
 * process (not one per stream): every `pumpMs` it reads each streamed entry from the gate — which
 * also beats its heart — and sends what changed. Admissions are pushed at once: the admitter, in
 * whichever process holds the lease, publishes who it admitted (see index.ts) and every process
 * refreshes those users' streams on the message (`admitted`). Pub/sub may lose a message (a
 * subscriber reconnecting); the pump then delivers the admission at its next pass, since the gate
 * is shared.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { EventStream } from '../../http/streams.js';
import type { EntryView, WaitingRoomsService } from './service.js';

interface Watch {
  roomId: string;
  userId: string;
  stream: EventStream;
  last: string;
  sentAt: number;
}

const KEEP_ALIVE_MS = 5_000;
/**
 * A changed position is sent at most this often per stream: in a moving line every admission moves
 * every place, and thousands of streams re-sent at every pump pass would cost the server (and the
 * phones) more than a place a second is worth. `admitted` and `expired` are never held back.
 */
const POSITION_GAP_MS = 1_000;
/** Entries read at once per pump (bounds the gate traffic of one pump in cluster mode). */
const CONCURRENCY = 200;
/** A pushed admission's read is tried this many times, PUSH_RETRY_MS × attempt apart (≈ 5 s in all). */
const PUSH_RETRIES = 6;
const PUSH_RETRY_MS = 333;

export class EntryStreams {
  private readonly watches = new Set<Watch>();
  /** room:user → its streams, for pushing an admission straight to them. */
  private readonly byEntry = new Map<string, Set<Watch>>();
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private seq = 0;

  constructor(
    private readonly rooms: WaitingRoomsService,
    private readonly log: FastifyBaseLogger,
    private readonly pumpMs = 500,
  ) {}

  /** These users of the room were just admitted (by any process): their streams get the pass now. */
  admitted(roomId: string, userIds: readonly string[]): void {
    for (const userId of userIds) {
      for (const w of this.byEntry.get(`${roomId}:${userId}`) ?? []) void this.refreshPushed(w);
    }
  }

  /**
   * A pushed admission is read at once; a read that fails (Redis slow, the gate's breaker open for a
   * moment) is tried again a few times shortly after, rather than left to the next pump pass, which
   * may be many seconds away (WAITING_ROOM_STREAM_PUMP_MS).
   */
  private async refreshPushed(w: Watch): Promise<void> {
    for (let attempt = 0; attempt < PUSH_RETRIES; attempt++) {
      if (attempt) await new Promise((r) => setTimeout(r, PUSH_RETRY_MS * attempt));
      if (await this.refresh(w)) return;
    }
  }

  get size(): number {
    return this.watches.size;
  }

  /** Streams the user's entry until it is admitted or expires, or the client goes away. */
  watch(roomId: string, userId: string, stream: EventStream, first: EntryView): void {
    const w: Watch = { roomId, userId, stream, last: '', sentAt: 0 };
    this.watches.add(w);
    const key = `${roomId}:${userId}`;
    let set = this.byEntry.get(key);
    if (!set) {
      set = new Set();
      this.byEntry.set(key, set);
    }
    set.add(w);
    stream.onClose(() => {
      this.watches.delete(w);
      const s = this.byEntry.get(key);
      s?.delete(w);
      if (s?.size === 0) this.byEntry.delete(key);
      if (this.watches.size === 0) this.stop();
    });
    this.deliver(w, first, Date.now());
    this.timer ??= setInterval(() => void this.pump(), this.pumpMs).unref();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private deliver(w: Watch, e: EntryView, now: number): void {
    const id = ++this.seq;
    if (e.status === 'ADMITTED') {
      w.stream.close({ event: 'admitted', data: e, id });
      return;
    }
    if (e.status === 'EXPIRED' || e.status === 'DONE') {
      w.stream.close({ event: 'expired', data: e, id });
      return;
    }
    const since = now - w.sentAt;
    if (since < POSITION_GAP_MS) return; // the next pump pass sends what changed meanwhile
    const text = JSON.stringify(e);
    if (text === w.last && since < KEEP_ALIVE_MS) return;
    w.last = text;
    w.sentAt = now;
    w.stream.send({ event: 'position', data: e, id });
  }

  /** Reads one streamed entry (a heartbeat) and sends what changed; false when the read failed. */
  private async refresh(w: Watch): Promise<boolean> {
    if (w.stream.closed) return true;
    try {
      this.deliver(w, await this.rooms.entry(w.roomId, w.userId, true), Date.now());
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NOT_FOUND') {
        w.stream.close({ event: 'expired', data: { status: 'EXPIRED' } });
        return true;
      }
      this.log.debug({ err, roomId: w.roomId }, 'entry stream read failed; tried again');
      return false;
    }
  }

  /** One pass over every open stream. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const all = [...this.watches];
      for (let i = 0; i < all.length; i += CONCURRENCY) {
        await Promise.all(all.slice(i, i + CONCURRENCY).map((w) => this.refresh(w)));
        // Let pushed admissions, requests and the admitter's tick in between chunks: with an
        // in-process gate a chunk completes in microtasks and would otherwise hold the loop.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.pumping = false;
    }
  }
}
