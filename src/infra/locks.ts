/**
 * Exclusive background work: `runExclusive(name, ttlMs, fn)` runs fn unless another process runs
 * `name` right now; `lease(name, ttlMs)` keeps one role (an admitter) in one process for as long as
 * it renews the lease. In embedded mode there is one process, so it always runs; in cluster mode a
 * Redis lock (SET NX PX with a random token, released only by its holder) decides, and a holder
 * that dies loses the lock after ttlMs, so another process takes over within one period.
 */
import { randomBytes } from 'node:crypto';
import type { RedisClient } from './redis/client.js';
import type { Keys } from './redis/keys.js';

/** A lease on one role (e.g. the waiting-room admitter), held while it is renewed in time. */
export interface Lease {
  /** Takes or renews the lease; true while this process holds it. Call at least every ttlMs / 2. */
  hold(): Promise<boolean>;
  /** Gives the lease up (on close), so another process takes over at once. */
  release(): Promise<void>;
}

export interface Locks {
  /** Runs fn holding the lock `name`; resolves to undefined without running it when another holds it. */
  runExclusive<T>(name: string, ttlMs: number, fn: () => Promise<T>): Promise<T | undefined>;
  /** A lease on `name`: one holder at a time; a holder that stops renewing loses it after ttlMs. */
  lease(name: string, ttlMs: number): Lease;
}

export const processLocks: Locks = {
  runExclusive: (_name, _ttlMs, fn) => fn(),
  lease: () => ({ hold: async () => true, release: async () => {} }),
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
    lease(name, ttlMs) {
      const key = keys.lock(name);
      const token = `${process.pid}:${randomBytes(8).toString('hex')}`;
      return {
        hold: async () => (await redis.holdLease(key, token, ttlMs)) === 1,
        release: async () => {
          await redis.releaseLock(key, token).catch(() => {});
        },
      };
    },
  };
}
