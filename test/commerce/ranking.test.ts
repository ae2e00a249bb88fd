/**
 * Best sellers equal the SQL aggregation over the same days after a random workload, in both modes,
 * and the store is rebuilt exactly from PostgreSQL when it loses its data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rank } from '../../src/modules/ranking/service.js';
import { clusterAvailable } from '../support/harness.js';
import {
  chargeAll,
  createProducts,
  type Env,
  get,
  type Mode,
  one,
  order,
  startEnv,
  users,
  waitFor,
} from './support.js';

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`best sellers (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(mode, { outboxPollMs: 50 });
    });
    afterAll(() => env?.close());

    const drained = () =>
      waitFor('the relay to feed every paid order', async () => {
        const r = await one<{ n: number }>(
          env,
          'SELECT count(*)::int AS n FROM outbox WHERE local_done_at IS NULL',
        );
        return r.n === 0;
      });

    it('equals the SQL aggregation over 1, 3 and 30 days after a random workload, top N included', async () => {
      const products = await createProducts(
        env,
        Array.from({ length: 25 }, (_, i) => ({ price: 1 + i, stock: 60 })),
      );
      const buyers = await users(env, 60);
      await chargeAll(env, buyers, 100_000);
      let seed = 7;
      const rnd = (n: number) => {
        seed = (seed * 48_271) % 2_147_483_647;
        return seed % n;
      };
      const res = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          const lines = [
            ...new Set(Array.from({ length: 1 + rnd(3) }, () => products[rnd(products.length)])),
          ];
          return order(
            env,
            buyers[i % buyers.length].token,
            lines.map((productId) => ({ productId, quantity: 1 + rnd(4) })),
          );
        }),
      );
      expect(res.every((r) => r.status === 201 || r.body.code === 'OUT_OF_STOCK')).toBe(true);
      // Paid orders of earlier days (2 days ago: inside 3 and 30; 10: inside 30; 40: outside all),
      // written with their outbox events as the orders repository writes them.
      for (const daysAgo of [2, 10, 40]) {
        for (let k = 0; k < 5; k++) {
          const productId = products[rnd(products.length)];
          const quantity = 1 + rnd(9);
          await env.sql.query(
            `WITH o AS (
               INSERT INTO orders (user_id, status, subtotal, discount, total, balance_after, paid_at)
               VALUES ($1, 'PAID', 0, 0, 0, 0, now() - make_interval(days => $4)) RETURNING id, paid_at
             ), i AS (
               INSERT INTO order_items (order_id, product_id, quantity, unit_price) SELECT id, $2, $3, 0 FROM o
             )
             INSERT INTO outbox (topic, user_id, payload)
             SELECT 'order.paid', $1, jsonb_build_object('orderId', id::text, 'userId', $1::text, 'paidAt', paid_at, 'total', 0,
                      'items', jsonb_build_array(jsonb_build_object('productId', $2::text, 'quantity', $3::int)))
             FROM o`,
            [buyers[0].id, productId, quantity, daysAgo],
          );
        }
      }
      await drained();
      const t = env.server.runtime.services.ranking;
      expect(sum(await t.totalsFromSql(3))).toBeGreaterThan(sum(await t.totalsFromSql(1)));
      expect(sum(await t.totalsFromSql(30))).toBeGreaterThan(sum(await t.totalsFromSql(3)));
      for (const days of [1, 3, 30]) {
        const store = await env.server.runtime.services.ranking.totals(days);
        const sql = await env.server.runtime.services.ranking.totalsFromSql(days);
        expect(Object.fromEntries(store)).toEqual(Object.fromEntries(sql));
        const api = await get(env, `/api/v1/products/popular?days=${days}&limit=10`);
        expect(api.status).toBe(200);
        expect(
          api.body.items.map((x: { productId: string; soldQuantity: number }) => [
            x.productId,
            x.soldQuantity,
          ]),
        ).toEqual(rank(sql, 10).map((x) => [x.productId, x.sold]));
      }
      const defaults = await get(env, '/api/v1/products/popular');
      expect(defaults.body.items).toHaveLength(5);
      expect(defaults.body.items[0]).toEqual(
        expect.objectContaining({
          name: expect.any(String),
          price: expect.any(Number),
          soldQuantity: expect.any(Number),
        }),
      );
    });

    it('is rebuilt exactly from PostgreSQL after the store lost its data, even if events are delivered again', async () => {
      const { ranking } = env.server.runtime.services;
      const before = Object.fromEntries(await ranking.totals(30));
      expect(Object.keys(before).length).toBeGreaterThan(0);
      // A fresh store (what a restarted embedded process or an emptied Redis has) rebuilt by replay…
      if (mode === 'embedded') {
        const { MemoryRankingStore } = await import('../../src/modules/ranking/memory-store.js');
        const { RankingService } = await import('../../src/modules/ranking/service.js');
        const { RankingRepository } = await import('../../src/modules/ranking/repository.js');
        const { services, infra, log } = env.server.runtime;
        const fresh = new RankingService(
          new MemoryRankingStore(),
          new RankingRepository(infra.postgres()),
          services.catalog,
          infra.metrics,
          log,
        );
        expect(await fresh.ensureBuilt()).toBe(true);
        expect(Object.fromEntries(await fresh.totals(30))).toEqual(before);
      } else {
        const redis = env.server.runtime.infra.redis()!;
        const keys = await redis.keys(`${env.db.redisPrefix}{ranking}*`);
        await redis.del(...keys);
        expect(await ranking.ensureBuilt()).toBe(true);
        expect(Object.fromEntries(await ranking.totals(30))).toEqual(before);
      }
      // …and every event delivered again changes nothing.
      await env.sql.query('UPDATE outbox SET local_done_at = NULL');
      await drained();
      expect(Object.fromEntries(await ranking.totals(30))).toEqual(
        Object.fromEntries(await ranking.totalsFromSql(30)),
      );
    });
  });
}
