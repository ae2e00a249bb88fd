import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedis, type RedisClient } from '../../src/infra/redis/client.js';
import { createKeys, type Keys } from '../../src/infra/redis/keys.js';
import { tcpProxy } from './proxy.js';

/** A key prefix of our own on the shared Redis; never FLUSHALL a shared server. */
export function randomPrefix(): string {
  return `stampede-test:${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under the prefix (SCAN + UNLINK). */
export async function deletePrefix(redisUrl: string, prefix: string): Promise<void> {
  const r = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

/**
 * A connected client (scripts loaded) with a private key prefix on the shared Redis, for adapter
 * contract suites; `done()` disconnects and deletes every key under the prefix.
 */
export async function privateRedis(
  redisUrl: string,
): Promise<{ redis: RedisClient; keys: Keys; done: () => Promise<void> }> {
  const prefix = randomPrefix();
  const redis = createRedis(redisUrl);
  await new Promise<void>((resolve, reject) => {
    redis.once('ready', () => resolve());
    redis.once('error', reject);
  });
  return {
    redis,
    keys: createKeys(prefix),
    done: async () => {
      redis.disconnect();
      await deletePrefix(redisUrl, prefix);
    },
  };
}

/** A TCP proxy in front of Redis that the test can cut, making Redis unreachable for the server. */
export async function redisProxy(target: URL) {
  const proxy = await tcpProxy(target.hostname, Number(target.port || 6379));
  return { ...proxy, url: `redis://127.0.0.1:${proxy.port}` };
}
