/**
 * One contract, two adapters: the in-process best-seller store (embedded mode) and the Redis one
 * (cluster mode) must count identically. Real Redis, private key prefix.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MemoryRankingStore } from '../../src/modules/ranking/memory-store.js';
import { RedisRankingStore } from '../../src/modules/ranking/redis-store.js';
import { type RankingStore, utcDay, windowOf } from '../../src/modules/ranking/store.js';
import { privateRedis } from '../support/redis.js';

const adapters: {
  name: string;
  needsRedis: boolean;
  make: () => Promise<{ store: RankingStore; done: () => Promise<void> }>;
}[] = [
  {
    name: 'memory',
    needsRedis: false,
    make: async () => ({ store: new MemoryRankingStore(), done: async () => {} }),
  },
  {
    name: 'redis',
    needsRedis: true,
    make: async () => {
      const { redis, keys, done } = await privateRedis(inject('redisUrl'));
      return { store: new RedisRankingStore(redis, keys), done };
    },
  },
];

const today = utcDay(Date.now());
const yesterday = utcDay(Date.now() - 86_400_000);

for (const adapter of adapters) {
  describe.skipIf(adapter.needsRedis && !inject('redisAvailable'))(
    `best-seller store contract: ${adapter.name}`,
    () => {
      let store: RankingStore;
      let done: () => Promise<void> = async () => {};
      let n = 0;
      const id = () => String(++n + 1000);
      beforeAll(async () => {
        ({ store, done } = await adapter.make());
      });
      afterAll(() => done());

      it('sums units per product over the given days only', async () => {
        const [a, b] = [id(), id()];
        await store.apply([
          {
            orderId: id(),
            day: today,
            items: [
              { productId: a, quantity: 3 },
              { productId: b, quantity: 1 },
            ],
          },
          { orderId: id(), day: yesterday, items: [{ productId: a, quantity: 2 }] },
        ]);
        const t1 = await store.totals([today]);
        expect([t1.get(a), t1.get(b)]).toEqual([3, 1]);
        const t2 = await store.totals([today, yesterday]);
        expect([t2.get(a), t2.get(b)]).toEqual([5, 1]);
      });

      it('counts an order once however many times it is applied, also concurrently', async () => {
        const p = id();
        const o = { orderId: id(), day: today, items: [{ productId: p, quantity: 7 }] };
        await Promise.all(Array.from({ length: 50 }, () => store.apply([o])));
        await store.apply([o, o]);
        expect((await store.totals([today])).get(p)).toBe(7);
      });

      it('answers an empty map for days without sales, and tracks whether it was rebuilt', async () => {
        expect((await store.totals([windowOf(1, Date.UTC(2001, 0, 1)).days[0]])).size).toBe(0);
        expect(await store.isBuilt()).toBe(false);
        await store.markBuilt();
        expect(await store.isBuilt()).toBe(true);
      });
    },
  );
}

describe('best-seller windows', () => {
  it('are the last D UTC days, today included, starting at the first one’s midnight', () => {
    const w = windowOf(3, Date.UTC(2026, 0, 2, 15, 30));
    expect(w.days).toEqual(['20260102', '20260101', '20251231']);
    expect(w.startsAt.toISOString()).toBe('2025-12-31T00:00:00.000Z');
  });
});
