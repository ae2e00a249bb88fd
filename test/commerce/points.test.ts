/**
 * Points wallet invariants under concurrency, in both modes: charges add up exactly, orders never
 * spend more than the balance, and the balance always equals the sum of the ledger.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable } from '../support/harness.js';
import {
  chargeAll,
  countBy,
  createProduct,
  type Env,
  get,
  ledgerMismatches,
  type Mode,
  one,
  order,
  post,
  startEnv,
  users,
} from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`points wallet (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(mode);
    });
    afterAll(() => env?.close());

    it('adds exactly +100,000 for 100 concurrent charges of 1,000', async () => {
      const [u] = await users(env, 1);
      const res = await Promise.all(
        Array.from({ length: 100 }, () => post(env, '/api/v1/me/points/charge', u.token, { amount: 1000 })),
      );
      expect(countBy(res, (r) => r.status)).toEqual({ 200: 100 });
      const balances = res.map((r) => r.body.balance as number).sort((a, b) => a - b);
      // Each charge saw a distinct balance: they were serialised, none lost.
      expect(balances).toEqual(Array.from({ length: 100 }, (_, i) => (i + 1) * 1000));
      const me = await get(env, '/api/v1/me/points', u.token);
      expect(me.body).toEqual({ balance: 100_000 });
      expect(await ledgerMismatches(env)).toBe(0);
    });

    it('spends a balance of 10,000 on exactly 10 of 100 concurrent orders costing 1,000, ending at 0', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 10_000);
      const product = await createProduct(env, { price: 1000, stock: 1000 });
      const res = await Promise.all(
        Array.from({ length: 100 }, () => order(env, u.token, [{ productId: product, quantity: 1 }])),
      );
      expect(countBy(res, (r) => r.status)).toEqual({ 201: 10, 402: 90 });
      expect(res.filter((r) => r.status === 402).every((r) => r.body.code === 'INSUFFICIENT_POINTS')).toBe(
        true,
      );
      const me = await get(env, '/api/v1/me/points', u.token);
      expect(me.body).toEqual({ balance: 0 });
      const stock = await one<{ stock: number }>(env, 'SELECT stock FROM products WHERE id = $1', [product]);
      expect(stock.stock).toBe(990);
      expect(await ledgerMismatches(env)).toBe(0);
    });

    it('refuses a charge past 10,000,000 with 409 BALANCE_LIMIT and changes nothing', async () => {
      const [u] = await users(env, 1);
      for (let i = 0; i < 10; i++) await chargeAll(env, [u], 1_000_000);
      const over = await post(env, '/api/v1/me/points/charge', u.token, { amount: 1 });
      expect(over.status).toBe(409);
      expect(over.body.code).toBe('BALANCE_LIMIT');
      const me = await get(env, '/api/v1/me/points', u.token);
      expect(me.body.balance).toBe(10_000_000);
      const rows = await one<{ n: number }>(
        env,
        'SELECT count(*)::int AS n FROM point_ledger WHERE user_id = $1',
        [u.id],
      );
      expect(rows.n).toBe(10);
    });

    it('pages the history newest first; every row carries the balance after it and the rows sum to the balance', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 5_000);
      const product = await createProduct(env, { price: 700, stock: 100 });
      for (let i = 0; i < 3; i++)
        expect((await order(env, u.token, [{ productId: product, quantity: 1 }])).status).toBe(201);
      await chargeAll(env, [u], 100);
      const seen: { id: string; type: string; amount: number; balanceAfter: number; ref?: string }[] = [];
      let cursor: string | undefined;
      do {
        const q = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
        const page = await get(env, `/api/v1/me/points/history${q}`, u.token);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen.map((r) => r.type)).toEqual(['CHARGE', 'USE', 'USE', 'USE', 'CHARGE']);
      expect(seen.map((r) => r.amount)).toEqual([100, -700, -700, -700, 5000]);
      expect(seen.map((r) => r.balanceAfter)).toEqual([3_000, 2_900, 3_600, 4_300, 5_000]);
      expect(seen[1].ref).toMatch(/^order:\d+$/);
      const ids = seen.map((r) => BigInt(r.id));
      expect([...ids].sort((a, b) => (a > b ? -1 : 1))).toEqual(ids);
      const me = await get(env, '/api/v1/me/points', u.token);
      expect(seen.reduce((s, r) => s + r.amount, 0)).toBe(me.body.balance);
    });

    it('pages 25 ledger rows and 12 orders newest first, each exactly once (ids compared as numbers)', async () => {
      const [u] = await users(env, 1);
      const product = await createProduct(env, { price: 1, stock: 100 });
      for (let i = 0; i < 13; i++) await chargeAll(env, [u], 100);
      for (let i = 0; i < 12; i++)
        expect((await order(env, u.token, [{ productId: product, quantity: 1 }])).status).toBe(201);
      for (const [path, n] of [
        ['/api/v1/me/points/history', 25],
        ['/api/v1/me/orders', 12],
      ] as const) {
        const ids: bigint[] = [];
        let cursor: string | undefined;
        do {
          const page = await get(env, `${path}?limit=5${cursor ? `&cursor=${cursor}` : ''}`, u.token);
          ids.push(
            ...page.body.items.map((r: { id?: string; orderId?: string }) => BigInt(r.id ?? r.orderId!)),
          );
          cursor = page.body.nextCursor;
        } while (cursor);
        expect(ids).toHaveLength(n);
        expect([...ids].sort((a, b) => (a > b ? -1 : 1))).toEqual(ids);
      }
    });
  });
}
