/**
 * All or nothing: an order that fails at its last step, or whose transaction fails after the stock
 * was already decremented inside it, leaves no stock, coupon, point, ledger or outbox change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  chargeAll,
  createProduct,
  type Env,
  issueCoupons,
  ledgerMismatches,
  one,
  order,
  startEnv,
  users,
} from './support.js';

interface Snapshot {
  stock: number[];
  coupon: string;
  balance: number;
  ledger: number;
  orders: number;
  events: number;
}

describe('orders are all or nothing', () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv('embedded');
  });
  afterAll(() => env?.close());

  async function snapshot(products: string[], uc: string, userId: string): Promise<Snapshot> {
    const s = await one<Omit<Snapshot, 'stock'>>(
      env,
      `SELECT (SELECT status FROM user_coupons WHERE id = $1) AS coupon,
              COALESCE((SELECT balance::int FROM point_wallets WHERE user_id = $2), 0) AS balance,
              (SELECT count(*)::int FROM point_ledger WHERE user_id = $2) AS ledger,
              (SELECT count(*)::int FROM orders WHERE user_id = $2) AS orders,
              (SELECT count(*)::int FROM outbox WHERE topic = 'order.paid' AND user_id = $2) AS events`,
      [uc, userId],
    );
    const st = await env.sql.query<{ stock: number }>(
      'SELECT stock FROM products WHERE id = ANY($1::bigint[]) ORDER BY id',
      [products],
    );
    return { ...s, stock: st.rows.map((r) => r.stock) };
  }

  it('takes nothing when the points (the last check) are short, with stock and coupon available', async () => {
    const [u] = await users(env, 1);
    await chargeAll(env, [u], 2_000);
    const p1 = await createProduct(env, { price: 1_500, stock: 5 });
    const p2 = await createProduct(env, { price: 1_000, stock: 5 });
    const [uc] = await issueCoupons(env, [u], { type: 'AMOUNT', value: 100 });
    const before = await snapshot([p1, p2], uc, u.id);
    const res = await order(
      env,
      u.token,
      [
        { productId: p1, quantity: 1 },
        { productId: p2, quantity: 1 },
      ],
      uc,
    );
    expect([res.status, res.body.code]).toEqual([402, 'INSUFFICIENT_POINTS']);
    expect(await snapshot([p1, p2], uc, u.id)).toEqual(before);
    expect(before).toMatchObject({ stock: [5, 5], coupon: 'AVAILABLE', balance: 2_000, orders: 0 });
  });

  it('rolls back stock, coupon and points when the transaction fails after the stock was decremented', async () => {
    const [u] = await users(env, 1);
    await chargeAll(env, [u], 10_000);
    const p1 = await createProduct(env, { price: 100, stock: 5 });
    const p2 = await createProduct(env, { price: 100, stock: 5 });
    const [uc] = await issueCoupons(env, [u], { type: 'PERCENT', value: 10 });
    // A fault injected into PostgreSQL: writing the order's lines fails, which happens after the
    // products were decremented in the same transaction.
    await env.sql.query(`
      CREATE FUNCTION test_fail_items() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected failure after stock was taken'; END $$;
      CREATE TRIGGER test_fail_items BEFORE INSERT ON order_items FOR EACH ROW EXECUTE FUNCTION test_fail_items();`);
    try {
      const before = await snapshot([p1, p2], uc, u.id);
      const res = await call(env, 'POST', '/api/v1/orders', {
        token: u.token,
        body: {
          items: [
            { productId: p2, quantity: 2 },
            { productId: p1, quantity: 1 },
          ],
          userCouponId: uc,
        },
        retry503: false,
      });
      expect([res.status, res.body.code]).toEqual([503, 'UNAVAILABLE']);
      expect(res.headers['retry-after']).toBeDefined();
      expect(await snapshot([p1, p2], uc, u.id)).toEqual(before);
    } finally {
      await env.sql.query('DROP TRIGGER test_fail_items ON order_items; DROP FUNCTION test_fail_items();');
    }
    // The fault gone, the same order goes through, exactly once.
    const ok = await order(
      env,
      u.token,
      [
        { productId: p2, quantity: 2 },
        { productId: p1, quantity: 1 },
      ],
      uc,
    );
    expect(ok.status).toBe(201);
    expect(await snapshot([p1, p2], uc, u.id)).toMatchObject({
      stock: [4, 3],
      coupon: 'USED',
      balance: 10_000 - 270,
    });
  });

  it('decides orders sharing one batch independently: the failing ones take nothing, the others everything', async () => {
    const buyers = await users(env, 40);
    await chargeAll(env, buyers.slice(0, 20), 1_000); // the other 20 have no points
    const product = await createProduct(env, { price: 400, stock: 1_000 });
    const res = await Promise.all(
      buyers.map((u) => order(env, u.token, [{ productId: product, quantity: 2 }])),
    );
    expect(res.slice(0, 20).every((r) => r.status === 201)).toBe(true);
    expect(res.slice(20).every((r) => r.status === 402)).toBe(true);
    const s = await one<{ stock: number; orders: number }>(
      env,
      'SELECT (SELECT stock FROM products WHERE id = $1) AS stock, (SELECT count(*)::int FROM orders) AS orders',
      [product],
    );
    expect(s.stock).toBe(1_000 - 40);
    expect(await ledgerMismatches(env)).toBe(0);
  });
});
