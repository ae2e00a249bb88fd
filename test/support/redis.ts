import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

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
