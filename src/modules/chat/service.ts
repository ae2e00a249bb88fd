/**
 * Event chat: rooms with members, messages with a per-room seq, presence.
 *
 *   rooms     created by a user (who becomes the first member); joined and left by members
 *   send      one path for REST and WebSocket: the sender's message budget (a per-user window,
 *             shared by every process in cluster mode), then the room's group commit, which checks
 *             membership, stores a resent clientMsgId once and gives new messages their seqs; the
 *             answer waits for the commit (acknowledged = durable). The committer publishes each
 *             committed batch to every process (index.ts wires it).
 *   history   pages by seq, for members
 *   presence  who is online in a room (PresenceTracker, over the memory or Redis store)
 */
import { appError } from '../../http/errors.js';
import type { WindowCounters } from '../../http/rate-limit-counters.js';
import { isId } from '../../http/schemas.js';
import type { KeyedGroupCommitter } from '../../infra/group-committer.js';
import type { Metrics } from '../../infra/metrics.js';
import type { UserPrincipal } from '../../infra/tokens.js';
import type { RoomFeeds } from './feeds.js';
import type { OnlineUser } from './presence.js';
import type { PresenceTracker } from './presence-tracker.js';
import type { ChatMessage, ChatRepository, NewMessage, RoomRow, StoreOutcome } from './repository.js';

const RATE_WINDOW_MS = 60_000;

export interface RoomListItem extends RoomRow {
  online: number;
}

export interface HistoryQuery {
  afterSeq?: number;
  beforeSeq?: number;
  limit: number;
}

export interface MessageBudget {
  counters: WindowCounters;
  perMinute: number;
}

/** A room id from a path or a frame: anything that is not one of ours is simply not found. */
export function roomIdOf(raw: string): string {
  if (!isId(raw)) throw appError('NOT_FOUND', `no chat room ${raw.slice(0, 40)}`);
  return raw;
}

const noRoom = (roomId: string) => appError('NOT_FOUND', `no chat room ${roomId}`);
const notMember = (roomId: string) =>
  appError('NOT_MEMBER', `you are not a member of chat room ${roomId}; join it first (POST .../members)`);

export class ChatService {
  constructor(
    private readonly repo: ChatRepository,
    private readonly messages: KeyedGroupCommitter<NewMessage, StoreOutcome>,
    private readonly budget: MessageBudget,
    private readonly presence: PresenceTracker,
    private readonly feeds: RoomFeeds,
    private readonly metrics: Metrics,
  ) {}

  // ---- rooms -------------------------------------------------------------------------------

  createRoom(user: UserPrincipal, name: string, topic: string | null): Promise<RoomRow> {
    return this.repo.createRoom(name, topic, user.id);
  }

  /** Rooms in id order after `afterId` (limit+1 of them, for pageOf), each with its online count. */
  async rooms(afterId: string | null, limit: number): Promise<RoomListItem[]> {
    const rows = await this.repo.roomPage(afterId, limit);
    const online = await this.presence.online(rows.map((r) => r.id));
    return rows.map((r) => ({ ...r, online: online.get(r.id)?.length ?? 0 }));
  }

  /** Makes the user a member (again: the same answer); when they joined. */
  async join(roomId: string, userId: string): Promise<Date> {
    const joinedAt = await this.repo.join(roomId, userId);
    if (!joinedAt) throw noRoom(roomId);
    return joinedAt;
  }

  /** Ends the membership; the user's subscriptions to the room end on every process. */
  async leave(roomId: string, userId: string): Promise<void> {
    if (!(await this.repo.leave(roomId, userId))) throw noRoom(roomId);
    this.feeds.publishLeft(roomId, userId);
  }

  async online(roomId: string): Promise<OnlineUser[]> {
    if (!(await this.repo.room(roomId))) throw noRoom(roomId);
    return (await this.presence.online([roomId])).get(roomId) ?? [];
  }

  /** Throws NOT_FOUND (no such room) or NOT_MEMBER unless the user is a member of the room. */
  async requireMember(roomId: string, userId: string): Promise<void> {
    const access = await this.repo.access(roomId, userId);
    if (access === 'no_room') throw noRoom(roomId);
    if (access === 'not_member') throw notMember(roomId);
  }

  // ---- messages ----------------------------------------------------------------------------

  /** A member's page of the room's history: after `afterSeq` (oldest first), else the latest. */
  async history(roomId: string, userId: string, q: HistoryQuery): Promise<ChatMessage[]> {
    await this.requireMember(roomId, userId);
    return q.afterSeq === undefined
      ? this.repo.latest(roomId, q.beforeSeq ?? null, q.limit)
      : this.repo.after(roomId, q.afterSeq, q.beforeSeq ?? null, q.limit);
  }

  /** Messages with afterSeq < seq ≤ upToSeq, oldest first, at most `limit` (a subscription's replay). */
  replay(roomId: string, afterSeq: number, upToSeq: number, limit: number): Promise<ChatMessage[]> {
    return this.repo.after(roomId, afterSeq, upToSeq + 1, limit);
  }

  /**
   * Stores a message once it is committed and returns it; a resend of the same clientMsgId
   * returns the message stored the first time (same seq). Refusals: RATE_LIMITED (+ Retry-After),
   * NOT_FOUND, NOT_MEMBER, IDEMPOTENCY_KEY_REUSED (the clientMsgId names another room's or
   * another text's message), UNAVAILABLE (not committed; nothing was stored).
   */
  async send(
    user: UserPrincipal,
    roomId: string,
    text: string,
    clientMsgId: string | null,
  ): Promise<ChatMessage> {
    const count = this.budget.counters.incr(user.id, RATE_WINDOW_MS);
    if (count.current > this.budget.perMinute) {
      this.metrics.chatMessagesIn.inc({ outcome: 'rate_limited' });
      const seconds = Math.max(1, Math.ceil(count.ttlMs / 1000));
      throw appError(
        'RATE_LIMITED',
        `more than ${this.budget.perMinute} chat messages a minute from this user; retry in ${seconds} s`,
        { 'retry-after': String(seconds) },
      );
    }
    let outcome: StoreOutcome;
    try {
      outcome = await this.messages.submit(roomId, { roomId, userId: user.id, text, clientMsgId });
    } catch {
      this.metrics.chatMessagesIn.inc({ outcome: 'unavailable' });
      throw appError(
        'UNAVAILABLE',
        'the message could not be made durable; send it again (same clientMsgId)',
        {
          'retry-after': '1',
        },
      );
    }
    switch (outcome.kind) {
      case 'no_room':
        this.metrics.chatMessagesIn.inc({ outcome: 'not_found' });
        throw noRoom(roomId);
      case 'not_member':
        this.metrics.chatMessagesIn.inc({ outcome: 'not_member' });
        throw notMember(roomId);
      case 'reused':
        this.metrics.chatMessagesIn.inc({ outcome: 'reused' });
        throw appError(
          'IDEMPOTENCY_KEY_REUSED',
          `clientMsgId already names your message ${outcome.message.seq} of chat room ${outcome.message.roomId}, with another text or room`,
        );
      case 'stored':
        this.metrics.chatMessagesIn.inc({ outcome: outcome.created ? 'stored' : 'resent' });
        return outcome.message;
    }
  }
}
