/**
 * Chat WebSocket connections (GET /api/v1/chat/ws): frames in, frames out, per connection.
 *
 * Promises:
 *   - A refused frame (not JSON, unknown type, a field breaking its rule, too large) is answered
 *     with an `error` frame and the connection stays open. Above the WebSocket server's own limit
 *     (64 KiB) the connection is closed with 1009 by the ws library.
 *   - subscribe { roomId, afterSeq? }: the subscription joins the room's live feed first and
 *     buffers it; `subscribed` names the feed's position L; with afterSeq < L the messages
 *     afterSeq+1..L are replayed from PostgreSQL; then the buffer is drained, skipping every seq
 *     already sent. So each message after afterSeq (or after L without it) arrives once, in order.
 *   - Slow readers: a socket whose unsent data passes `maxBufferedBytes` when a frame is due is
 *     closed with 4008 and receives nothing more (its memory stops growing); it is cut after
 *     CLOSE_GRACE_MS if it does not finish the close. A replay does not trip it: it waits for the
 *     socket to drain below half the bound before each message.
 *   - Dead connections: one timer pings every socket every `pingIntervalMs`; a socket that did not
 *     answer the previous ping (nor sent anything since) is terminated.
 *   - Subscribe and unsubscribe frames of a connection are handled one at a time, in order; sends
 *     run concurrently (each is acknowledged by its clientMsgId).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WebSocket } from '@fastify/websocket';
import type { FastifyBaseLogger } from 'fastify';
import { AppError } from '../../http/errors.js';
import type { Metrics } from '../../infra/metrics.js';
import type { UserPrincipal } from '../../infra/tokens.js';
import type { FeedListener, RoomFeed, RoomFeeds } from './feeds.js';
import {
  ackFrame,
  type ClientFrame,
  errorFrame,
  type FrameRefusal,
  isRefusal,
  messageFrame,
  PONG_FRAME,
  parseFrame,
  subscribedFrame,
} from './frames.js';
import type { PresenceTracker } from './presence-tracker.js';
import { type ChatService, roomIdOf } from './service.js';

/** Close codes of chat sockets (besides 1001 on a drain, from src/app.ts, and 1009 from ws). */
export const CLOSE_SLOW_READER = 4008;

/** A closing socket that has not finished the close handshake after this long is cut, ms. */
const CLOSE_GRACE_MS = 5_000;
/** Messages read from PostgreSQL at once while replaying. */
const REPLAY_PAGE = 500;
/** While a replay waits for its reader, it looks at the socket's buffer this often, ms. */
const REPLAY_WAIT_MS = 20;

export interface SocketOptions {
  maxFrameBytes: number;
  maxBufferedBytes: number;
  pingIntervalMs: number;
}

interface Parts {
  chat: ChatService;
  feeds: RoomFeeds;
  presence: PresenceTracker;
  metrics: Metrics;
  log: FastifyBaseLogger;
  opts: SocketOptions;
}

/** Why a failure is refused, as an error frame (an AppError's code and detail; anything else is INTERNAL). */
function refusalOf(err: unknown, context: { clientMsgId?: string; roomId?: string }): FrameRefusal {
  if (err instanceof AppError) return { code: err.code, detail: err.detail, ...context };
  return { code: 'INTERNAL', detail: 'an unexpected failure, logged', ...context };
}

/** One socket's subscription to one room. */
class RoomSubscription implements FeedListener {
  /** The highest seq sent to the socket: nothing at or below it is sent again. */
  lastSent = 0;
  dropped = false;
  /** Live messages held while the replay runs; null once live. */
  private held: { seq: number; frame: string }[] | null = [];

  constructor(
    readonly roomId: string,
    readonly feed: RoomFeed,
    private readonly connection: ChatConnection,
  ) {}

  message(m: { seq: number }, frame: string): void {
    if (this.held) this.held.push({ seq: m.seq, frame });
    else this.deliver(m.seq, frame, 'live');
  }

  presence(frame: string): void {
    this.connection.write(frame);
  }

  left(userId: string): void {
    if (userId === this.connection.user.id) this.connection.ended(this);
  }

  deliver(seq: number, frame: string, path: 'live' | 'replay'): void {
    if (seq <= this.lastSent) return;
    this.lastSent = seq;
    if (this.connection.write(frame)) this.connection.parts.metrics.chatMessagesOut.inc({ path });
  }

  /** Sends what was held during the replay, then every live message as it comes. */
  goLive(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const h of held) this.deliver(h.seq, h.frame, 'live');
  }
}

class ChatConnection {
  readonly subscriptions = new Map<string, RoomSubscription>();
  /** Answered the last ping (or sent something) since it was sent. */
  alive = true;
  private closed = false;
  /** Subscribe and unsubscribe frames, one after the other. */
  private control: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: WebSocket,
    readonly user: UserPrincipal,
    readonly parts: Parts,
    private readonly onGone: (c: ChatConnection) => void,
  ) {
    socket.on('message', (data, isBinary) => this.onFrame(data as Buffer, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => this.gone());
  }

  /** Writes a frame; false when it was not (closed, or the reader is too slow and is now dropped). */
  write(frame: string): boolean {
    if (this.closed || this.socket.readyState !== this.socket.OPEN) return false;
    if (this.socket.bufferedAmount > this.parts.opts.maxBufferedBytes) {
      this.dropSlowReader();
      return false;
    }
    this.socket.send(frame);
    return true;
  }

  /** The ping round: false when the socket did not answer the previous one (it is terminated). */
  ping(): boolean {
    if (!this.alive) {
      this.socket.terminate();
      return false;
    }
    this.alive = false;
    this.socket.ping();
    return true;
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(code, reason);
  }

  /** The membership behind a subscription ended (the user left the room). */
  ended(sub: RoomSubscription): void {
    if (sub.dropped) return;
    this.drop(sub);
    this.refuse({
      code: 'NOT_MEMBER',
      detail: `you left chat room ${sub.roomId}; its subscription ended`,
      roomId: sub.roomId,
    });
  }

  private refuse(r: FrameRefusal): void {
    this.write(errorFrame(r));
  }

  private onFrame(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    const frame = parseFrame(data, isBinary, this.parts.opts.maxFrameBytes);
    if (isRefusal(frame)) {
      this.refuse(frame);
      return;
    }
    this.handle(frame);
  }

  private handle(frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        this.write(PONG_FRAME);
        return;
      case 'send':
        void this.send(frame.roomId, frame.text, frame.clientMsgId);
        return;
      case 'subscribe':
        this.inOrder(() => this.subscribe(frame.roomId, frame.afterSeq), frame.roomId);
        return;
      case 'unsubscribe':
        this.inOrder(async () => {
          const sub = this.subscriptions.get(frame.roomId);
          if (sub) this.drop(sub);
        }, frame.roomId);
        return;
    }
  }

  private inOrder(step: () => Promise<void>, roomId: string): void {
    this.control = this.control.then(step).catch((err) => {
      if (!(err instanceof AppError)) this.parts.log.error({ err, roomId }, 'chat frame failed');
      this.refuse(refusalOf(err, { roomId }));
    });
  }

  private async send(roomId: string, text: string, clientMsgId: string): Promise<void> {
    try {
      const m = await this.parts.chat.send(this.user, roomIdOf(roomId), text, clientMsgId);
      this.write(ackFrame(clientMsgId, m.seq));
    } catch (err) {
      if (!(err instanceof AppError)) this.parts.log.error({ err, roomId }, 'chat send failed');
      this.refuse(refusalOf(err, { clientMsgId, roomId }));
    }
  }

  private async subscribe(rawRoomId: string, afterSeq: number | undefined): Promise<void> {
    const roomId = roomIdOf(rawRoomId);
    await this.parts.chat.requireMember(roomId, this.user.id);
    const feed = await this.parts.feeds.acquire(roomId);
    if (this.closed) {
      this.parts.feeds.release(feed);
      return;
    }
    // A new subscription to the same room replaces the old one (presence counts the new one first).
    const previous = this.subscriptions.get(roomId);
    const sub = new RoomSubscription(roomId, feed, this);
    this.subscriptions.set(roomId, sub);
    feed.listeners.add(sub);
    this.parts.metrics.chatSubscriptions.inc();
    void this.parts.presence.add(roomId, { userId: this.user.id, name: this.user.name });
    if (previous) this.drop(previous);
    const live = feed.delivered;
    sub.lastSent = Math.max(afterSeq ?? live, 0);
    this.write(subscribedFrame(roomId, live));
    try {
      await this.replay(sub, live);
    } catch (err) {
      this.drop(sub);
      throw err;
    }
    if (!sub.dropped) sub.goLive();
  }

  /**
   * Sends lastSent+1..upTo from PostgreSQL, page by page, while the subscription stands. It goes at
   * its reader's pace: past half the buffer bound it waits for the socket to drain, so a long
   * replay to a far client is not mistaken for a slow reader.
   */
  private async replay(sub: RoomSubscription, upTo: number): Promise<void> {
    while (sub.lastSent < upTo && !sub.dropped) {
      const page = await this.parts.chat.replay(sub.roomId, sub.lastSent, upTo, REPLAY_PAGE);
      if (page.length === 0) return;
      for (const m of page) {
        await this.drained();
        if (sub.dropped) return;
        sub.deliver(m.seq, messageFrame(m), 'replay');
      }
    }
  }

  private async drained(): Promise<void> {
    const half = this.parts.opts.maxBufferedBytes / 2;
    while (!this.closed && this.socket.bufferedAmount > half) await sleep(REPLAY_WAIT_MS);
  }

  private drop(sub: RoomSubscription): void {
    if (sub.dropped) return;
    sub.dropped = true;
    if (this.subscriptions.get(sub.roomId) === sub) this.subscriptions.delete(sub.roomId);
    sub.feed.listeners.delete(sub);
    this.parts.feeds.release(sub.feed);
    this.parts.metrics.chatSubscriptions.dec();
    void this.parts.presence.remove(sub.roomId, this.user.id);
  }

  private dropSlowReader(): void {
    if (this.closed) return;
    this.parts.metrics.chatSlowReaders.inc();
    this.gone();
    this.socket.close(CLOSE_SLOW_READER, 'slow reader: too much unread data');
    setTimeout(() => this.socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Ends every subscription; once. */
  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sub of [...this.subscriptions.values()]) this.drop(sub);
    this.onGone(this);
  }
}

/** Every chat connection of the process, with the one ping timer they share. */
export class ChatSockets {
  private readonly connections = new Set<ChatConnection>();
  private timer: NodeJS.Timeout | null = null;
  private readonly parts: Parts;

  constructor(
    chat: ChatService,
    feeds: RoomFeeds,
    presence: PresenceTracker,
    metrics: Metrics,
    log: FastifyBaseLogger,
    opts: SocketOptions,
  ) {
    this.parts = { chat, feeds, presence, metrics, log, opts };
  }

  get size(): number {
    return this.connections.size;
  }

  /** Serves an upgraded socket of an authenticated user until it closes. */
  accept(socket: WebSocket, user: UserPrincipal): void {
    const connection = new ChatConnection(socket, user, this.parts, (c) => this.forget(c));
    this.connections.add(connection);
    this.parts.metrics.chatConnections.set(this.connections.size);
    this.timer ??= setInterval(() => this.pingAll(), this.parts.opts.pingIntervalMs).unref();
  }

  /** Closes every connection (a drain: clients reconnect elsewhere and resume from their seq). */
  closeAll(): void {
    for (const c of [...this.connections]) c.close(1001, 'server shutting down');
  }

  private pingAll(): void {
    for (const c of this.connections) {
      if (!c.ping()) this.parts.metrics.chatDeadConnections.inc();
    }
  }

  private forget(c: ChatConnection): void {
    this.connections.delete(c);
    this.parts.metrics.chatConnections.set(this.connections.size);
    if (this.connections.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
