/**
 * Every name the chat module gives a pub/sub channel or a Redis key, in one place. Keys of one
 * room share the hash tag `{chat:<roomId>}` so they live in one Redis Cluster slot. Channel names
 * are logical: the pub/sub adapter puts the deployment's prefix in front.
 */
export interface ChatKeys {
  /** Pub/sub channel of one room: its new messages, presence wake-ups and departures. */
  roomChannel(roomId: string): string;
  /** Sorted set of a room's presence entries (`<process>|<user>|<name>` → expiry, ms). */
  presence(roomId: string): string;
  /** Namespace of the shared per-user message counters (rate limit). */
  rateLimitNamespace(): string;
}

export function chatKeys(prefix: string): ChatKeys {
  return {
    roomChannel: (roomId) => `chat:room:${roomId}`,
    presence: (roomId) => `${prefix}{chat:${roomId}}:presence`,
    rateLimitNamespace: () => `${prefix}ratelimit:chat:`,
  };
}
