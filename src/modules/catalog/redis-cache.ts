import type { RedisClient } from '../../infra/redis/client.js';
import type { ReadCache } from './cache.js';

/** Cluster-mode cache: plain GET / SET PX on keys from the key builder (the caller builds them). */
export class RedisReadCache implements ReadCache {
  readonly kind = 'redis' as const;

  constructor(private readonly redis: RedisClient) {}

  async get(key: string): Promise<string | null> {
    return this.redis.get(key);
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(key, value, 'PX', Math.max(1, Math.floor(ttlMs)));
  }

  async del(key: string): Promise<void> {
    await this.redis.del(key);
  }
}
