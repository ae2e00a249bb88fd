/**
 * Presence in Redis (cluster mode). One sorted set per room (ChatKeys.presence): a member per
 * process and user, `<processId>|<userId>|<name>`, scored with the time (ms) it expires. A process
 * writes its own members only: on `enter`, and every beat for all of them (the score moves to
 * now + TTL). A killed process stops beating, so its users are gone from `online` at most TTL after
 * its last beat; expired members are removed by the next beat of any process in that room. The key
 * itself expires when nobody beats into the room any more.
 *
 * Scores are written with the writer's clock and read with the reader's: processes' clocks must
 * agree within a small part of the TTL (NTP does this).
 */
import type { RedisClient } from '../../infra/redis/client.js';
import type { ChatKeys } from './keys.js';
import type { OnlineUser, PresenceEntry, PresenceStore } from './presence.js';

export class RedisPresence implements PresenceStore {
  readonly kind = 'redis';

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: ChatKeys,
    /** Names this process's members; unique per process. */
    private readonly processId: string,
    /** How long an entry lives without a beat, ms. */
    private readonly ttlMs: number,
  ) {}

  private member({ user }: PresenceEntry): string {
    return `${this.processId}|${user.userId}|${user.name}`;
  }

  async enter(entry: PresenceEntry): Promise<void> {
    const key = this.keys.presence(entry.roomId);
    await this.redis
      .multi()
      .zadd(key, Date.now() + this.ttlMs, this.member(entry))
      .pexpire(key, this.ttlMs * 2)
      .exec();
  }

  async leave(entry: PresenceEntry): Promise<void> {
    await this.redis.zrem(this.keys.presence(entry.roomId), this.member(entry));
  }

  /** One transaction per room (its keys share a slot; a Redis Cluster refuses one across slots). */
  async beat(entries: readonly PresenceEntry[]): Promise<void> {
    const now = Date.now();
    const byRoom = new Map<string, string[]>();
    for (const e of entries) {
      const key = this.keys.presence(e.roomId);
      byRoom.set(key, [...(byRoom.get(key) ?? []), this.member(e)]);
    }
    await Promise.all(
      [...byRoom].map(async ([key, members]) => {
        const tx = this.redis.multi();
        for (const m of members) tx.zadd(key, now + this.ttlMs, m);
        const results = await tx
          .zremrangebyscore(key, '-inf', now)
          .pexpire(key, this.ttlMs * 2)
          .exec();
        const failed = results?.find(([err]) => err);
        if (failed) throw failed[0];
      }),
    );
  }

  async online(roomIds: readonly string[]): Promise<Map<string, OnlineUser[]>> {
    const now = Date.now();
    const lists = await Promise.all(
      roomIds.map((id) => this.redis.zrangebyscore(this.keys.presence(id), now, '+inf')),
    );
    return new Map(roomIds.map((id, i) => [id, usersOf(lists[i])]));
  }
}

/** Members `<process>|<user>|<name>` → each user once (a user may be on several processes). */
function usersOf(members: readonly string[]): OnlineUser[] {
  const users = new Map<string, string>();
  for (const m of members) {
    const first = m.indexOf('|');
    const second = m.indexOf('|', first + 1);
    if (first < 0 || second < 0) continue;
    users.set(m.slice(first + 1, second), m.slice(second + 1));
  }
  return [...users].map(([userId, name]) => ({ userId, name }));
}
