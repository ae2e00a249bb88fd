/**
 * Exclusive background work: `runExclusive(name, ttlMs, fn)` runs fn unless another process runs
 * `name` right now. In embedded mode there is one process, so it always runs; in cluster mode a
 * Redis lock (SET NX PX with a random token, released only by its holder) decides, and a holder
 * that dies loses the lock after ttlMs, so another process takes over within one period.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from './redis/client.js';
import type { Keys } from './redis/keys.js';

export interface Locks {
  /** Runs fn holding the lock `name`; resolves to undefined without running it when another holds it. */
  runExclusive<T>(name: string, ttlMs: number, fn: () => Promise<T>): Promise<T | undefined>;
}

export const processLocks: Locks = {
  runExclusive: (_name, _ttlMs, fn) => fn(),
};

export function redisLocks(redis: RedisClient, keys: Keys): Locks {
  return {
    async runExclusive(name, ttlMs, fn) {
      const key = keys.lock(name);
      const token = `${process.pid}:${randomBytes(8).toString('hex')}`;
      if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return undefined;
      try {
        return await fn();
      } finally {
        await redis.releaseLock(key, token).catch(() => {}); // it expires by itself
      }
    },
  };
}
