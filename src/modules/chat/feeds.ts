/**
 * Room feeds: in each process, one live, ordered feed per room that has local subscribers.
 *
 * A room's messages reach every process through pub/sub (one channel per room, ChatKeys): the
 * process that committed a batch publishes it. Batches of different processes can arrive in any
 * order, and pub/sub may lose one (a subscriber reconnecting), so a feed does not trust arrival
 * order: it hands its listeners the room's messages strictly by seq, each once, with no gap.
 *
 *   - `delivered` is the last seq handed out; every seq up to it was handed out, in order.
 *   - A message above delivered + 1 waits in `pending`. If the gap is still there after
 *     `gapFillMs`, the missing seqs are read from PostgreSQL (a committed seq N means every seq
 *     below N is committed: migrations/007_chat.sql), then pending is drained.
 *   - Every sweep (`sweepMs`) compares each feed with its room's `last_seq`: a feed still behind
 *     the last_seq of the previous sweep lost the tail of the room's traffic (no later message came
 *     to reveal the gap) and reads it from PostgreSQL. So a lost copy shows up within two sweeps.
 *   - A feed opens by subscribing first and reading last_seq second: whatever is committed after
 *     the read arrives through the subscription; what arrives before it is ≤ last_seq and dropped.
 *
 * The same channel carries presence wake-ups (someone came or went: the feed re-reads the room's
 * online users and tells its listeners who changed) and departures (a member left the room).
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../../infra/metrics.js';
import type { PubSub } from '../../infra/pubsub.js';
import { messageFrame, presenceFrame } from './frames.js';
import type { ChatKeys } from './keys.js';
import type { OnlineUser, PresenceStore } from './presence.js';
import type { ChatMessage, ChatRepository } from './repository.js';

export interface FeedListener {
  /** The room's next message, in seq order; `frame` is its message frame, built once per feed. */
  message(m: ChatMessage, frame: string): void;
  /** A presence frame: a user came online in the room or went offline. */
  presence(frame: string): void;
  /** The user's membership of the room ended. */
  left(userId: string): void;
}

/** What travels on a room's channel. */
type RoomEvent =
  | { kind: 'messages'; sentAt: number; messages: ChatMessage[] }
  | { kind: 'presence' }
  | { kind: 'left'; userId: string };

export interface FeedOptions {
  /** How long a gap may wait for its late copy before it is read from PostgreSQL, ms. */
  gapFillMs: number;
  /** Period of the tail check and presence refresh of every feed, ms. */
  sweepMs: number;
}

/** Messages read from PostgreSQL at once when a feed fills a gap. */
const FILL_PAGE = 1_000;

interface Parts {
  repo: ChatRepository;
  presence: PresenceStore;
  metrics: Metrics;
  log: FastifyBaseLogger;
  opts: FeedOptions;
}

export class RoomFeed {
  /** The last seq handed to listeners. */
  delivered = 0;
  readonly listeners = new Set<FeedListener>();
  /** Holders: subscriptions using the feed (it closes when none is left). */
  holders = 0;
  ready: Promise<void> = Promise.resolve();
  private readonly pending = new Map<number, { message: ChatMessage; sentAt?: number }>();
  private online = new Map<string, string>();
  private opened = false;
  private closed = false;
  private gapTimer: NodeJS.Timeout | null = null;
  private filling = false;
  private refreshing = false;
  private refreshAgain = false;
  /** The room's last_seq at the previous sweep. */
  private behindAt = 0;
  private unsubscribe: (() => Promise<void>) | null = null;

  constructor(
    readonly roomId: string,
    private readonly p: Parts,
  ) {}

  /** Subscribes to the room's channel, then learns the room's position and who is online. */
  async open(pubsub: PubSub, channel: string): Promise<void> {
    this.unsubscribe = await pubsub.subscribe(channel, (text) => this.onEvent(text));
    const last = (await this.p.repo.lastSeqs([this.roomId])).get(this.roomId) ?? 0;
    this.online = new Map((await this.onlineNow()).map((u) => [u.userId, u.name]));
    this.delivered = Math.max(this.delivered, last);
    this.behindAt = last;
    this.opened = true;
    for (const seq of this.pending.keys()) if (seq <= this.delivered) this.pending.delete(seq);
    this.drain();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.listeners.clear();
    await this.ready.catch(() => {});
    await this.unsubscribe?.().catch(() => {});
  }

  /** Called by every sweep with the room's last_seq in PostgreSQL. */
  catchUp(lastSeq: number): void {
    if (this.opened && this.delivered < this.behindAt) {
      void this.fill(Math.max(lastSeq, this.behindAt), 'tail');
    }
    this.behindAt = lastSeq;
  }

  /** Re-reads who is online and tells listeners who came or went (one read at a time). */
  refreshPresence(): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = true;
    void (async () => {
      try {
        do {
          this.refreshAgain = false;
          this.applyOnline(await this.onlineNow());
        } while (this.refreshAgain && !this.closed);
      } finally {
        this.refreshing = false;
      }
    })();
  }

  private onEvent(text: string): void {
    let event: RoomEvent;
    try {
      event = JSON.parse(text) as RoomEvent;
    } catch {
      return;
    }
    if (this.closed) return;
    if (event.kind === 'messages' && Array.isArray(event.messages)) {
      for (const message of event.messages) {
        if (message.seq > this.delivered) this.pending.set(message.seq, { message, sentAt: event.sentAt });
      }
      if (this.opened) this.drain();
    } else if (event.kind === 'presence') {
      if (this.opened) this.refreshPresence();
    } else if (event.kind === 'left' && typeof event.userId === 'string') {
      for (const l of [...this.listeners]) l.left(event.userId);
    }
  }

  /** Hands out every message that is next in line; schedules a fill if a gap remains. */
  private drain(): void {
    for (;;) {
      const next = this.pending.get(this.delivered + 1);
      if (!next) break;
      this.pending.delete(this.delivered + 1);
      this.delivered += 1;
      if (next.sentAt !== undefined)
        this.p.metrics.chatFanoutSeconds.observe((Date.now() - next.sentAt) / 1000);
      const frame = messageFrame(next.message);
      for (const l of this.listeners) l.message(next.message, frame);
    }
    if (this.pending.size === 0) {
      if (this.gapTimer) clearTimeout(this.gapTimer);
      this.gapTimer = null;
    } else {
      this.gapTimer ??= setTimeout(() => {
        this.gapTimer = null;
        const first = Math.min(...this.pending.keys());
        void this.fill(first - 1, 'gap');
      }, this.p.opts.gapFillMs).unref();
    }
  }

  /** Reads seqs delivered+1..upTo from PostgreSQL into pending, and drains. */
  private async fill(upTo: number, reason: 'gap' | 'tail'): Promise<void> {
    if (this.filling || this.closed) return;
    this.filling = true;
    try {
      while (this.delivered < upTo && !this.closed) {
        const rows = await this.p.repo.after(this.roomId, this.delivered, upTo + 1, FILL_PAGE);
        const before = this.delivered;
        let filled = 0;
        for (const message of rows) {
          if (message.seq > this.delivered && !this.pending.has(message.seq)) {
            this.pending.set(message.seq, { message });
            filled += 1;
          }
        }
        this.p.metrics.chatGapFills.inc({ reason }, filled);
        this.drain();
        if (this.delivered === before) break;
      }
    } catch (err) {
      this.p.log.warn({ err, roomId: this.roomId }, 'chat gap not filled from PostgreSQL; retried later');
    } finally {
      this.filling = false;
    }
  }

  private async onlineNow(): Promise<OnlineUser[]> {
    try {
      return (await this.p.presence.online([this.roomId])).get(this.roomId) ?? [];
    } catch (err) {
      this.p.log.warn(
        { err, roomId: this.roomId },
        'chat presence not read; presence frames wait for the next sweep',
      );
      return [...this.online].map(([userId, name]) => ({ userId, name }));
    }
  }

  private applyOnline(users: readonly OnlineUser[]): void {
    if (this.closed) return;
    const next = new Map(users.map((u) => [u.userId, u.name]));
    const frames: string[] = [];
    for (const [userId, name] of next)
      if (!this.online.has(userId)) frames.push(presenceFrame(this.roomId, { userId, name }, true));
    for (const [userId, name] of this.online)
      if (!next.has(userId)) frames.push(presenceFrame(this.roomId, { userId, name }, false));
    this.online = next;
    for (const frame of frames) for (const l of this.listeners) l.presence(frame);
  }
}

/** The process's feeds, by room, and what it publishes to every process's feeds. */
export class RoomFeeds {
  private readonly feeds = new Map<string, RoomFeed>();
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private readonly parts: Parts;

  constructor(
    private readonly pubsub: PubSub,
    private readonly keys: ChatKeys,
    repo: ChatRepository,
    presence: PresenceStore,
    metrics: Metrics,
    private readonly log: FastifyBaseLogger,
    private readonly opts: FeedOptions,
  ) {
    this.parts = { repo, presence, metrics, log, opts };
  }

  get size(): number {
    return this.feeds.size;
  }

  /** The room's feed, open (subscribed, its position known), held once more; release it after. */
  async acquire(roomId: string): Promise<RoomFeed> {
    let feed = this.feeds.get(roomId);
    if (!feed) {
      const created = new RoomFeed(roomId, this.parts);
      created.ready = created.open(this.pubsub, this.keys.roomChannel(roomId));
      this.feeds.set(roomId, created);
      feed = created;
      this.timer ??= setInterval(() => void this.sweep(), this.opts.sweepMs).unref();
    }
    feed.holders += 1;
    try {
      await feed.ready;
    } catch (err) {
      this.release(feed);
      throw err;
    }
    return feed;
  }

  release(feed: RoomFeed): void {
    feed.holders -= 1;
    if (feed.holders > 0) return;
    if (this.feeds.get(feed.roomId) === feed) this.feeds.delete(feed.roomId);
    if (this.feeds.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    void feed.close();
  }

  /** Sends a committed batch (in seq order) to every process's feed of the room. Never throws. */
  publishMessages(roomId: string, messages: ChatMessage[]): void {
    if (messages.length > 0) this.publish(roomId, { kind: 'messages', sentAt: Date.now(), messages });
  }

  /** Someone came online in the room or went offline (every process's feed re-reads presence). */
  publishPresence(roomId: string): void {
    this.publish(roomId, { kind: 'presence' });
  }

  /** The user is no longer a member of the room. */
  publishLeft(roomId: string, userId: string): void {
    this.publish(roomId, { kind: 'left', userId });
  }

  private publish(roomId: string, event: RoomEvent): void {
    this.pubsub.publish(this.keys.roomChannel(roomId), JSON.stringify(event)).catch((err) => {
      this.log.warn(
        { err, roomId, kind: event.kind },
        'chat event not published; feeds catch up from PostgreSQL',
      );
    });
  }

  /** One pass over every feed: the tail check against PostgreSQL and a presence refresh. */
  async sweep(): Promise<void> {
    if (this.sweeping || this.feeds.size === 0) return;
    this.sweeping = true;
    try {
      const feeds = [...this.feeds.values()];
      const last = await this.parts.repo.lastSeqs(feeds.map((f) => f.roomId));
      for (const feed of feeds) {
        feed.catchUp(last.get(feed.roomId) ?? 0);
        feed.refreshPresence();
      }
    } catch (err) {
      this.log.warn({ err }, 'chat feeds not checked against PostgreSQL; next sweep retries');
    } finally {
      this.sweeping = false;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const feeds = [...this.feeds.values()];
    this.feeds.clear();
    await Promise.all(feeds.map((f) => f.close()));
  }
}
