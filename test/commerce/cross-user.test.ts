/** One user can never read or use another's order, coupon or points, in either mode. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable } from '../support/harness.js';
import {
  chargeAll,
  createProduct,
  type Env,
  get,
  issueCoupons,
  type Mode,
  one,
  post,
  startEnv,
  users,
} from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`isolation between users (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(mode);
    });
    afterAll(() => env?.close());

    it("never shows or lets B use A's order, coupon, points or Idempotency-Key", async () => {
      const [a, b] = await users(env, 2);
      await chargeAll(env, [a], 50_000);
      await chargeAll(env, [b], 1_000);
      const product = await createProduct(env, { price: 100, stock: 100 });
      const [aCoupon] = await issueCoupons(env, [a], { type: 'AMOUNT', value: 50 });
      const aOrder = await post(
        env,
        '/api/v1/orders',
        a.token,
        { items: [{ productId: product, quantity: 1 }] },
        'shared-key',
      );
      expect(aOrder.status).toBe(201);

      // Order: 404 for B, exactly like an order that does not exist.
      const peek = await get(env, `/api/v1/orders/${aOrder.body.orderId}`, b.token);
      const none = await get(env, '/api/v1/orders/999999999', b.token);
      expect([peek.status, peek.body.code, none.status]).toEqual([404, 'NOT_FOUND', 404]);
      expect(peek.body.detail).toBe(`no order ${aOrder.body.orderId}`);
      expect((await get(env, '/api/v1/me/orders', b.token)).body.items).toEqual([]);

      // Coupon: refused with the same answer as a coupon that does not exist; A keeps it.
      const steal = await post(env, '/api/v1/orders', b.token, {
        items: [{ productId: product, quantity: 1 }],
        userCouponId: aCoupon,
      });
      const ghost = await post(env, '/api/v1/orders', b.token, {
        items: [{ productId: product, quantity: 1 }],
        userCouponId: '999999999',
      });
      expect([steal.status, steal.body.code]).toEqual([409, 'COUPON_UNAVAILABLE']);
      expect(steal.body.detail.replace(aCoupon, 'X')).toBe(ghost.body.detail.replace('999999999', 'X'));
      const c = await one<{ status: string }>(env, 'SELECT status FROM user_coupons WHERE id = $1', [
        aCoupon,
      ]);
      expect(c.status).toBe('AVAILABLE');
      expect((await get(env, '/api/v1/me/coupons', b.token)).body.items).toEqual([]);

      // Points: B sees only B's wallet and ledger; A's balance is untouched by B's failures.
      expect((await get(env, '/api/v1/me/points', b.token)).body).toEqual({ balance: 1_000 });
      const hist = await get(env, '/api/v1/me/points/history', b.token);
      expect(hist.body.items.map((r: { type: string; amount: number }) => [r.type, r.amount])).toEqual([
        ['CHARGE', 1_000],
      ]);
      expect((await get(env, '/api/v1/me/points', a.token)).body).toEqual({ balance: 49_900 });

      // Idempotency keys are per user: B's identical request with A's key is B's own new order.
      const bOrder = await post(
        env,
        '/api/v1/orders',
        b.token,
        { items: [{ productId: product, quantity: 1 }] },
        'shared-key',
      );
      expect(bOrder.status).toBe(201);
      expect(bOrder.body.orderId).not.toBe(aOrder.body.orderId);
      expect(bOrder.headers['idempotent-replayed']).toBeUndefined();
      // Notifications likewise.
      const notes = await get(env, '/api/v1/me/notifications', b.token);
      expect(notes.status).toBe(200);
      expect(JSON.stringify(notes.body)).not.toContain(`Order ${aOrder.body.orderId} `);
    });
  });
}
