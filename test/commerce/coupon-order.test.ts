/**
 * Coupons in orders, in both modes: a coupon is used by at most one order however many race for
 * it, discounts follow the rules (AMOUNT capped at the subtotal, PERCENT rounded down), and used or
 * expired coupons are refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable } from '../support/harness.js';
import {
  chargeAll,
  countBy,
  createProduct,
  type Env,
  issueCoupons,
  type Mode,
  one,
  order,
  startEnv,
  users,
} from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`coupons in orders (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(mode);
    });
    afterAll(() => env?.close());

    it('lets at most one of 20 concurrent orders by one user use the same userCouponId', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 1_000_000);
      const product = await createProduct(env, { price: 1000, stock: 1000 });
      const [uc] = await issueCoupons(env, [u], { type: 'AMOUNT', value: 300 });
      const res = await Promise.all(
        Array.from({ length: 20 }, () => order(env, u.token, [{ productId: product, quantity: 1 }], uc)),
      );
      expect(countBy(res, (r) => r.status)).toEqual({ 201: 1, 409: 19 });
      expect(res.filter((r) => r.status === 409).every((r) => r.body.code === 'COUPON_UNAVAILABLE')).toBe(
        true,
      );
      const paid = res.find((r) => r.status === 201)!;
      expect(paid.body).toMatchObject({ subtotal: 1000, discount: 300, total: 700, userCouponId: uc });
      const db = await one<{ status: string; orders: number; stock: number }>(
        env,
        `SELECT uc.status, (SELECT count(*)::int FROM orders WHERE user_coupon_id = uc.id) AS orders,
                (SELECT stock FROM products WHERE id = $2) AS stock
         FROM user_coupons uc WHERE uc.id = $1`,
        [uc, product],
      );
      expect(db).toEqual({ status: 'USED', orders: 1, stock: 999 });
      const mine = await env.http.call('GET', env.url('/api/v1/me/coupons'), { token: u.token });
      expect(mine.body.items[0].status).toBe('USED');
    });

    it('caps an AMOUNT discount at the subtotal and rounds a PERCENT discount down', async () => {
      const [a, b] = await users(env, 2);
      await chargeAll(env, [a, b], 100_000);
      const p1 = await createProduct(env, { price: 1_234, stock: 10 });
      const p2 = await createProduct(env, { price: 1_111, stock: 10 });
      const [amount] = await issueCoupons(env, [a], { type: 'AMOUNT', value: 50_000 });
      const [percent] = await issueCoupons(env, [b], { type: 'PERCENT', value: 15 });
      const r1 = await order(env, a.token, [{ productId: p1, quantity: 2 }], amount);
      expect(r1.status).toBe(201);
      expect(r1.body).toMatchObject({ subtotal: 2_468, discount: 2_468, total: 0, balanceAfter: 100_000 });
      const r2 = await order(
        env,
        b.token,
        [
          { productId: p1, quantity: 1 },
          { productId: p2, quantity: 1 },
        ],
        percent,
      );
      expect(r2.status).toBe(201);
      // 15 % of 2,345 = 351.75 → 351
      expect(r2.body).toMatchObject({ subtotal: 2_345, discount: 351, total: 1_994, balanceAfter: 98_006 });
    });

    it('refuses a used or an expired coupon with 409 COUPON_UNAVAILABLE and takes nothing', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 100_000);
      const product = await createProduct(env, { price: 100, stock: 10 });
      const [used] = await issueCoupons(env, [u], { type: 'AMOUNT', value: 10 });
      const [expired] = await issueCoupons(env, [u], { type: 'AMOUNT', value: 10 }, { validDays: 1 });
      expect((await order(env, u.token, [{ productId: product, quantity: 1 }], used)).status).toBe(201);
      const again = await order(env, u.token, [{ productId: product, quantity: 1 }], used);
      expect(again.status).toBe(409);
      expect(again.body).toMatchObject({ code: 'COUPON_UNAVAILABLE' });
      expect(again.body.detail).toMatch(/used/);
      await env.sql.query(`UPDATE user_coupons SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
        expired,
      ]);
      const late = await order(env, u.token, [{ productId: product, quantity: 1 }], expired);
      expect(late.status).toBe(409);
      expect(late.body.detail).toMatch(/expired/);
      const db = await one<{ stock: number; balance: number }>(
        env,
        'SELECT (SELECT stock FROM products WHERE id = $1) AS stock, (SELECT balance::int FROM point_wallets WHERE user_id = $2) AS balance',
        [product, u.id],
      );
      expect(db).toEqual({ stock: 9, balance: 99_910 });
    });
  });
}
