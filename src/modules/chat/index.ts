import { randomUUID } from 'node:crypto';
import { LocalCounters, SyncedCounters, type WindowCounters } from '../../http/rate-limit-counters.js';
import { defineModule } from '../../kernel/module.js';
import { RoomFeeds } from './feeds.js';
import { chatKeys } from './keys.js';
import { MemoryPresence, type PresenceStore } from './presence.js';
import { PresenceTracker } from './presence-tracker.js';
import { RedisPresence } from './redis-presence.js';
import { ChatRepository, type NewMessage, type StoreOutcome } from './repository.js';
import { chatRoutes } from './routes.js';
import { ChatService } from './service.js';
import { ChatSockets } from './sockets.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    chat: ChatService;
  }
}

/** A gap in a room's feed waits this long for its late pub/sub copy before it is read from PostgreSQL, ms. */
const GAP_FILL_MS = 250;
/** Presence entries live this many beats without one. */
const PRESENCE_TTL_BEATS = 3;
/** Cluster mode: a user's message count is shared through Redis once one process counted this share of the budget. */
const SHARE_FROM = 0.1;

/**
 * Event chat: rooms with members, messages with a gap-free per-room seq assigned in PostgreSQL by
 * a group commit, fan-out to every process through pub/sub (ordered by seq in each process, gaps
 * filled from PostgreSQL), replay from a seq on subscribe, and presence (in process, or in Redis
 * with expiring beats in cluster mode). REST under /api/v1/chat; WebSocket at /api/v1/chat/ws.
 */
export default defineModule({
  name: 'chat',
  infra: ['postgres', 'redis', 'pubsub', 'commits', 'metrics', 'log', 'config'],
  dependsOn: [],
  prefix: '/api/v1',
  create({ infra }) {
    const { config, metrics, log } = infra;
    const repo = new ChatRepository(infra.postgres());
    const keys = chatKeys(config.redisPrefix);
    const redis = infra.redis();
    const store: PresenceStore = redis
      ? new RedisPresence(redis, keys, randomUUID(), config.chatPresenceBeatMs * PRESENCE_TTL_BEATS)
      : new MemoryPresence();
    const counters: WindowCounters = redis
      ? new SyncedCounters({
          redis,
          namespace: keys.rateLimitNamespace(),
          log,
          shareFrom: Math.ceil(config.chatMessagesPerMinute * SHARE_FROM),
        })
      : new LocalCounters();
    const feeds = new RoomFeeds(infra.pubsub(), keys, repo, store, metrics, log, {
      gapFillMs: GAP_FILL_MS,
      sweepMs: config.chatPresenceBeatMs,
    });
    const presence = new PresenceTracker(
      store,
      (roomId) => feeds.publishPresence(roomId),
      log,
      config.chatPresenceBeatMs,
    );
    // One transaction at a time per room: its batches serialise on the room row anyway, and one
    // in flight lets the next take everything that queued meanwhile.
    const messages = infra.commits.keyed<NewMessage, StoreOutcome>(
      'chat-messages',
      async (items) => {
        const roomId = items[0].roomId;
        const outcomes = await repo.storeBatch(roomId, items);
        // Committed: every process's feed of the room gets the new ones, in seq order.
        feeds.publishMessages(
          roomId,
          outcomes
            .flatMap((o) => (o.kind === 'stored' && o.created ? [o.message] : []))
            .sort((a, b) => a.seq - b.seq),
        );
        return outcomes;
      },
      { concurrency: 1 },
    );
    const chat = new ChatService(
      repo,
      messages,
      { counters, perMinute: config.chatMessagesPerMinute },
      presence,
      feeds,
      metrics,
    );
    const sockets = new ChatSockets(chat, feeds, presence, metrics, log, {
      maxFrameBytes: config.chatMaxFrameBytes,
      maxBufferedBytes: config.chatMaxBufferedBytes,
      pingIntervalMs: config.chatPingIntervalMs,
    });
    return {
      service: chat,
      routes: chatRoutes(chat, sockets),
      async close() {
        sockets.closeAll();
        await presence.close();
        await feeds.close();
        await messages.close();
        await counters.close();
      },
      health: () => ({
        status: 'up',
        detail: `${sockets.size} sockets; ${feeds.size} rooms live here; presence ${store.kind}`,
      }),
    };
  },
});
