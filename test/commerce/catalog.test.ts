/**
 * Catalog, in both modes: admin create and bulk create, cursor pagination that visits every product
 * once in id order, detail reads whose stock lags by at most one second, and reads that survive a
 * cache outage (cluster: Redis unreachable) by going to PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable } from '../support/harness.js';
import {
  ADMIN_TOKEN,
  chargeAll,
  createProducts,
  type Env,
  get,
  type Mode,
  order,
  post,
  startEnv,
  users,
} from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`catalog (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(mode);
    });
    afterAll(() => env?.close());

    it('creates a product and reads it back', async () => {
      const res = await post(env, '/api/v1/admin/products', ADMIN_TOKEN, {
        name: 'Lamp',
        price: 1_500,
        stock: 3,
        description: 'bright',
      });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^\d+$/),
        name: 'Lamp',
        price: 1_500,
        stock: 3,
        description: 'bright',
      });
      expect((await get(env, `/api/v1/products/${res.body.id}`)).body).toEqual(res.body);
      const bare = await post(env, '/api/v1/admin/products', ADMIN_TOKEN, {
        name: 'Plain',
        price: 0,
        stock: 0,
      });
      expect(bare.body.description).toBeNull();
    });

    it('bulk-creates 10,000 products and pages through all of them once, in id order', async () => {
      const before = await env.sql.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
      const ids = await createProducts(
        env,
        Array.from({ length: 10_000 }, (_, i) => ({ price: i, stock: i % 7 })),
      );
      expect(ids).toHaveLength(10_000);
      expect(new Set(ids).size).toBe(10_000);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await get(env, `/api/v1/products?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        seen.push(...page.body.items.map((p: { id: string }) => p.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toHaveLength(before.rows[0].n + 10_000);
      const sorted = [...seen].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
      expect(seen).toEqual(sorted);
      expect(seen.slice(-10_000)).toEqual(ids);
    });

    it('shows stock that lags the database by at most one second', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 1_000);
      const [id] = await createProducts(env, [{ price: 1, stock: 50 }]);
      expect((await get(env, `/api/v1/products/${id}`)).body.stock).toBe(50); // now cached
      expect((await order(env, u.token, [{ productId: id, quantity: 5 }])).status).toBe(201);
      const soon = (await get(env, `/api/v1/products/${id}`)).body.stock;
      expect([45, 50]).toContain(soon);
      await new Promise((r) => setTimeout(r, 1_050));
      expect((await get(env, `/api/v1/products/${id}`)).body.stock).toBe(45);
    });

    it.skipIf(mode !== 'cluster')(
      'keeps serving reads from PostgreSQL while the cache (Redis) is unreachable',
      async () => {
        const [id] = await createProducts(env, [{ price: 9, stock: 9 }]);
        const redis = env.server.runtime.infra.redis()!;
        redis.disconnect();
        try {
          for (let i = 0; i < 10; i++) {
            const one = await get(env, `/api/v1/products/${id}`);
            expect([one.status, one.body.stock]).toEqual([200, 9]);
            expect((await get(env, '/api/v1/products?limit=5')).status).toBe(200);
          }
          const pop = await get(env, '/api/v1/products/popular');
          expect(pop.status).toBe(200);
          const metrics = await env.server.runtime.infra.metrics.registry.getSingleMetricAsString(
            'stampede_cache_requests_total',
          );
          expect(metrics).toMatch(/result="error"/);
        } finally {
          await redis.connect().catch(() => {});
        }
      },
    );
  });
}
