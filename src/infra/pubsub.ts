/**
 * Publish / subscribe between the processes of one deployment: the port every module that pushes
 * something live (waiting-room admissions today; chat and the live view next) uses, with two
 * adapters and one contract suite (test/contract/pubsub.contract.test.ts):
 *
 *   memory  embedded mode: one process, so a publication is delivered to this process's handlers
 *   redis   cluster mode: PUBLISH on the command client, SUBSCRIBE on a connection of its own
 *           (a subscribed connection can run no other command); every process of the deployment,
 *           the publisher included, receives every message of the channels it subscribed to
 *
 * What it promises, and what it does not: delivery is at most once and in publication order per
 * channel and publisher, asynchronous (never inside `publish`). A process that is disconnected when
 * a message is published never sees it (ioredis resubscribes on reconnect, but Redis keeps no
 * backlog). A module that must not miss anything therefore treats a message as a wake-up and keeps
 * a way to catch up from its truth (PostgreSQL, or its gate): the waiting room's stream pump does.
 *
 * Channel names are logical (`waiting-rooms:admitted`); the adapter puts the deployment's key
 * prefix in front, so deployments sharing a Redis never hear each other.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient, RedisSubscriber } from './redis/client.js';
import { within } from './timing.js';

export type MessageHandler = (message: string) => void;

export interface PubSub {
  readonly kind: 'memory' | 'redis';
  /** Sends `message` to every current subscriber of `channel`, in every process. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Calls `handler` with every later message on `channel`; resolves once the subscription is in
   * force (a message published after that is delivered). Resolves to the unsubscribe function.
   */
  subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>>;
  /** Drops every subscription of this process. */
  close(): Promise<void>;
}

/** Handlers by channel, with the one dispatch loop both adapters use. */
class Handlers {
  private readonly byChannel = new Map<string, Set<MessageHandler>>();

  constructor(private readonly log: FastifyBaseLogger) {}

  /** Adds one; true when it is the channel's first. */
  add(channel: string, handler: MessageHandler): boolean {
    let set = this.byChannel.get(channel);
    const first = !set;
    if (!set) {
      set = new Set();
      this.byChannel.set(channel, set);
    }
    set.add(handler);
    return first;
  }

  /** Removes one; true when the channel has none left. */
  remove(channel: string, handler: MessageHandler): boolean {
    const set = this.byChannel.get(channel);
    if (!set?.delete(handler)) return false;
    if (set.size > 0) return false;
    this.byChannel.delete(channel);
    return true;
  }

  channels(): string[] {
    return [...this.byChannel.keys()];
  }

  clear(): void {
    this.byChannel.clear();
  }

  dispatch(channel: string, message: string): void {
    for (const handler of this.byChannel.get(channel) ?? []) {
      try {
        handler(message);
      } catch (err) {
        this.log.error({ err, channel }, 'pub/sub handler failed');
      }
    }
  }
}

export function memoryPubSub(log: FastifyBaseLogger): PubSub {
  const handlers = new Handlers(log);
  return {
    kind: 'memory',
    async publish(channel, message) {
      // Delivered after the publisher's current step, as a message from Redis would be.
      setImmediate(() => handlers.dispatch(channel, message));
    },
    async subscribe(channel, handler) {
      handlers.add(channel, handler);
      return async () => {
        handlers.remove(channel, handler);
      };
    },
    async close() {
      handlers.clear();
    },
  };
}

export function redisPubSub(
  redis: RedisClient,
  subscriber: RedisSubscriber,
  prefix: string,
  log: FastifyBaseLogger,
): PubSub {
  const handlers = new Handlers(log);
  const namespace = `${prefix}channel:`;
  const full = (channel: string) => `${namespace}${channel}`;
  subscriber.on('message', (channel: string, message: string) => {
    if (channel.startsWith(namespace)) handlers.dispatch(channel.slice(namespace.length), message);
  });
  return {
    kind: 'redis',
    async publish(channel, message) {
      await redis.publish(full(channel), message);
    },
    async subscribe(channel, handler) {
      if (handlers.add(channel, handler)) {
        try {
          await subscriber.subscribe(full(channel));
        } catch (err) {
          handlers.remove(channel, handler);
          throw err;
        }
      }
      return async () => {
        if (handlers.remove(channel, handler)) {
          // At most 1 s: an UNSUBSCRIBE queued on a connection that is down never settles.
          await within(subscriber.unsubscribe(full(channel)), 1_000);
        }
      };
    },
    async close() {
      const channels = handlers.channels().map(full);
      handlers.clear();
      if (channels.length) await within(subscriber.unsubscribe(...channels), 1_000);
    },
  };
}
