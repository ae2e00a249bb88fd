/**
 * No oversell and no deadlock, in both modes: a hot product under 1,000 concurrent buyers, and a
 * random mix of multi-line orders whose lines arrive in both orders across several processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable, startTestServer, type TestServer } from '../support/harness.js';
import {
  chargeAll,
  countBy,
  createProduct,
  createProducts,
  type Env,
  ledgerMismatches,
  type Mode,
  one,
  order,
  startEnv,
  users,
} from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`stock (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      // Small batches and more of them in flight: many concurrent transactions contend for rows.
      env = await startEnv(mode, { commitMaxBatch: 8, commitConcurrency: 6 });
    });
    afterAll(() => env?.close());

    it('sells exactly 100 of a 100-unit product to 1,000 concurrent buyers (100 × 201, 900 × 409), stock 0', async () => {
      const buyers = await users(env, 1000);
      await chargeAll(env, buyers, 1_000, 64);
      const product = await createProduct(env, { price: 500, stock: 100, name: 'hot' });
      const res = await Promise.all(
        buyers.map((u) => order(env, u.token, [{ productId: product, quantity: 1 }])),
      );
      expect(countBy(res, (r) => r.status)).toEqual({ 201: 100, 409: 900 });
      const refused = res.filter((r) => r.status === 409);
      expect(refused.every((r) => r.body.code === 'OUT_OF_STOCK' && r.body.detail.includes(product))).toBe(
        true,
      );
      const p = await one<{ stock: number; sold: number; orders: number }>(
        env,
        `SELECT stock, (SELECT COALESCE(sum(quantity), 0)::int FROM order_items WHERE product_id = $1) AS sold,
                (SELECT count(*)::int FROM orders) AS orders
         FROM products WHERE id = $1`,
        [product],
      );
      expect(p).toEqual({ stock: 0, sold: 100, orders: 100 });
      expect(await ledgerMismatches(env)).toBe(0);
    });

    it('never deadlocks or oversells under random 1–5-unit orders over 10 products, lines in both orders, two processes', async () => {
      // A second server on the same database (and Redis prefix): two processes' transactions contend.
      const second: TestServer = await startTestServer(env.db, { commitMaxBatch: 8, commitConcurrency: 6 });
      try {
        const initial = 120;
        const products = await createProducts(
          env,
          Array.from({ length: 10 }, () => ({ price: 10, stock: initial })),
        );
        const buyers = await users(env, 100);
        await chargeAll(env, buyers, 1_000_000, 32);
        let seed = 42;
        const rnd = (n: number) => {
          seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
          return seed % n;
        };
        const requests = Array.from({ length: 600 }, (_, i) => {
          const count = 2 + rnd(4);
          const chosen = [...products].sort(() => rnd(3) - 1).slice(0, count);
          chosen.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
          if (i % 2) chosen.reverse(); // half ascending, half descending
          const base = i % 3 === 0 ? second.url : env.server.url;
          return order(
            env,
            buyers[i % buyers.length].token,
            chosen.map((productId) => ({ productId, quantity: 1 + rnd(5) })),
            undefined,
            base,
          );
        });
        const res = await Promise.all(requests);
        const statuses = countBy(res, (r) => r.status);
        expect(Object.keys(statuses).sort()).toEqual(['201', '409']);
        expect(res.filter((r) => r.status === 409).every((r) => r.body.code === 'OUT_OF_STOCK')).toBe(true);
        const rows = await env.sql.query<{ id: string; stock: number; sold: number }>(
          `SELECT p.id::text AS id, p.stock, COALESCE(sum(i.quantity), 0)::int AS sold
           FROM products p LEFT JOIN order_items i ON i.product_id = p.id
           WHERE p.id = ANY($1::bigint[]) GROUP BY p.id`,
          [products],
        );
        for (const r of rows.rows) {
          expect(r.stock).toBeGreaterThanOrEqual(0);
          expect(r.stock + r.sold).toBe(initial);
        }
        // The workload sold out at least some products (otherwise it proved little).
        expect(rows.rows.some((r) => r.stock < 5)).toBe(true);
        expect(await ledgerMismatches(env)).toBe(0);
      } finally {
        await second.close();
      }
    });
  });
}
