/**
 * Live entry streams (SSE): `position` on every change and at least every 5 s, `admitted` (with the
 * pass) and `expired`; an open stream is a heartbeat. One pump timer for every stream of the
 * process (not one per stream): every `pumpMs` it reads each streamed entry from the gate — which
 * also beats its heart — and sends what changed. Admissions made by this process's admitter are
 * pushed at once (no pump wait); those made by an admitter in another process reach the stream
 * within one pump pass, since the gate is shared.
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
/** Entries read at once per pump (bounds the gate traffic of one pump in cluster mode). */
const CONCURRENCY = 200;

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
  ) {
    rooms.onAdmitted((roomId, userIds) => {
      for (const userId of userIds) {
        for (const w of this.byEntry.get(`${roomId}:${userId}`) ?? []) void this.refresh(w);
      }
    });
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
    const text = JSON.stringify(e);
    if (text === w.last && now - w.sentAt < KEEP_ALIVE_MS) return;
    w.last = text;
    w.sentAt = now;
    w.stream.send({ event: 'position', data: e, id });
  }

  /** Reads one streamed entry (a heartbeat) and sends what changed. */
  private async refresh(w: Watch): Promise<void> {
    if (w.stream.closed) return;
    try {
      this.deliver(w, await this.rooms.entry(w.roomId, w.userId, true), Date.now());
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NOT_FOUND') w.stream.close({ event: 'expired', data: { status: 'EXPIRED' } });
      else this.log.debug({ err, roomId: w.roomId }, 'entry stream read failed; next pump retries');
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
      }
    } finally {
      this.pumping = false;
    }
  }
}
