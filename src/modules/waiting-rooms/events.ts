/**
 * Live entry streams (SSE): `position` on every change and at least every 5 s, `admitted` (with the
 * pass) and `expired`; an open stream is a heartbeat. One pump timer for every stream of the
 * process (not one per stream): every `pumpMs` it reads each streamed entry from the gate — which
 * also beats its heart — and sends what changed. The admitter may run in another process; the gate
 * is shared, so what it decided reaches every stream within one pump period.
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
  private timer: NodeJS.Timeout | null = null;
  private pumping = false;
  private seq = 0;

  constructor(
    private readonly rooms: WaitingRoomsService,
    private readonly log: FastifyBaseLogger,
    private readonly pumpMs = 500,
  ) {}

  get size(): number {
    return this.watches.size;
  }

  /** Streams the user's entry until it is admitted or expires, or the client goes away. */
  watch(roomId: string, userId: string, stream: EventStream, first: EntryView): void {
    const w: Watch = { roomId, userId, stream, last: '', sentAt: 0 };
    this.watches.add(w);
    stream.onClose(() => {
      this.watches.delete(w);
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

  /** One pass over every open stream. */
  async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      const all = [...this.watches];
      for (let i = 0; i < all.length; i += CONCURRENCY) {
        await Promise.all(
          all.slice(i, i + CONCURRENCY).map(async (w) => {
            if (w.stream.closed) return;
            try {
              this.deliver(w, await this.rooms.entry(w.roomId, w.userId, true), Date.now());
            } catch (err) {
              const code = (err as { code?: string }).code;
              if (code === 'NOT_FOUND') w.stream.close({ event: 'expired', data: { status: 'EXPIRED' } });
              else this.log.debug({ err, roomId: w.roomId }, 'entry stream read failed; next pump retries');
            }
          }),
        );
      }
    } finally {
      this.pumping = false;
    }
  }
}
