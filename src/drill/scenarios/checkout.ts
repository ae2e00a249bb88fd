/**
 * checkout: users with points buy 1–3 products (quantity 1–2 each), half of the time with their
 * coupon, while stock runs out.
 *   setup      U users, P products of stock S, every user charged 20,000 points, a 10 % coupon
 *              claimed by the first half of the users
 *   iteration  the next user in turn: 1 in 10 tops up 5,000 points first; then one order
 *              (Idempotency-Key per attempt; a request lost to a timeout is retried once with
 *              the same key, so it takes effect at most once)
 *   answers    201 paid · 409 OUT_OF_STOCK · 402 INSUFFICIENT_POINTS · 409 COUPON_UNAVAILABLE
 *              are expected business answers; 200 and 409 BALANCE_LIMIT for top-ups
 *   defaults   U = max(50, 4 × peak VUs), P = 20, S = max(10, ⌈5U / P⌉), think time 1–3 s
 */
import type { AuditResult } from '../audit.js';
import type { Registry } from '../metrics.js';
import { between, mulberry32 } from '../random.js';
import { STATUS_COLOR } from '../report/colors.js';
import { asObject, int, optStr, str } from '../shape.js';
import type { VirtualUser } from '../vu.js';
import { chargeAll, claimCoupon, createProducts } from './catalog-setup.js';
import { auditCheckout } from './checkout-audit.js';
import type { CheckoutObservations, PaidOrder } from './checkout-types.js';
import type { AuditContext, Scenario, ScenarioContext } from './types.js';
import { createUsers } from './users.js';

export const SETUP_CHARGE = 20_000;
export const TOP_UP = 5_000;
const ORDER_EXPECT = {
  201: true,
  402: ['INSUFFICIENT_POINTS'],
  409: ['OUT_OF_STOCK', 'COUPON_UNAVAILABLE'],
} as const;
const CHARGE_EXPECT = { 200: true, 409: ['BALANCE_LIMIT'] } as const;

export function createCheckout(registry: Registry): Scenario {
  const paidMetric = registry.define('orders_paid', 'counter');
  const outOfStockMetric = registry.define('orders_out_of_stock', 'counter');
  const insufficientMetric = registry.define('orders_insufficient_points', 'counter');
  const couponRefusedMetric = registry.define('orders_coupon_unavailable', 'counter');
  const topUpMetric = registry.define('points_charged', 'counter');
  let obs: CheckoutObservations | null = null;
  let stamp = '';

  async function topUp(vu: VirtualUser, o: CheckoutObservations, u: number): Promise<void> {
    const key = `drill-${stamp}-c-${vu.iterationInTest}`;
    const spec = {
      method: 'POST' as const,
      path: '/api/v1/me/points/charge',
      name: 'charge',
      token: o.users.tokens[u],
      body: { amount: TOP_UP },
      headers: { 'idempotency-key': key },
      expect: CHARGE_EXPECT,
    };
    let res = await vu.request(spec);
    if (res.status === 0) res = await vu.request(spec);
    vu.check(res.expected, 'charge answered 200 or 409 BALANCE_LIMIT');
    if (res.status === 200) {
      o.charged[u] += TOP_UP;
      topUpMetric.add(TOP_UP);
    } else if (res.status === 0 || res.status >= 500) {
      o.chargeUnknown[u] = 1;
    }
  }

  async function order(vu: VirtualUser, o: CheckoutObservations, u: number): Promise<void> {
    const n = between(vu.rng, 1, 3);
    const picked = new Set<number>();
    while (picked.size < n) picked.add(between(vu.rng, 0, o.products.length - 1));
    const items = [...picked].map((p) => ({ productId: o.products[p].id, quantity: between(vu.rng, 1, 2) }));
    const coupon =
      o.userCoupon[u] !== undefined && !o.couponSpent[u] && vu.rng() < 0.5 ? o.userCoupon[u] : undefined;
    const spec = {
      method: 'POST' as const,
      path: '/api/v1/orders',
      name: 'order',
      token: o.users.tokens[u],
      body: coupon ? { items, userCouponId: coupon } : { items },
      headers: { 'idempotency-key': `drill-${stamp}-o-${vu.iterationInTest}` },
      expect: ORDER_EXPECT,
    };
    let res = await vu.request(spec);
    if (res.status === 0) res = await vu.request(spec);
    vu.check(res.expected, 'order answered 201, 402 or 409 (stock, coupon)');
    if (res.status === 201) {
      let paid: PaidOrder | null = null;
      try {
        const b = asObject(res.json, 'order 201');
        paid = { orderId: str(b, 'orderId', 'order 201'), total: int(b, 'total', 'order 201') };
        optStr(b, 'userCouponId', 'order 201');
      } catch {
        paid = null;
      }
      vu.check(paid !== null, '201 carries orderId and total');
      if (paid) {
        const list = o.paid.get(u);
        if (list) list.push(paid);
        else o.paid.set(u, [paid]);
      }
      if (coupon) o.couponSpent[u] = 1;
      paidMetric.add(1);
    } else if (res.status === 409 && res.code === 'OUT_OF_STOCK') {
      outOfStockMetric.add(1);
    } else if (res.status === 402) {
      insufficientMetric.add(1);
    } else if (res.status === 409 && res.code === 'COUPON_UNAVAILABLE') {
      couponRefusedMetric.add(1);
      if (coupon && !o.orderUnknown[u]) o.unexplainedCouponRefusals++;
      o.couponSpent[u] = 1;
    } else if (res.status === 0 || (res.status >= 500 && res.status !== 503)) {
      o.orderUnknown[u]++;
      // The coupon may or may not have been spent; stop offering it.
      if (coupon) o.couponSpent[u] = 1;
    }
  }

  return {
    name: 'checkout',
    description: 'Users with points buy 1–3 products, with and without coupons, while stock runs out',
    defaultThresholds: [
      'http_req_failed: rate<0.01',
      'http_req_duration{name:order}: p(95)<1000',
      'checks: rate>0.99',
    ],
    defaultThinkTime: { minMs: 1_000, maxMs: 3_000 },
    businessCounters: [
      { metric: 'orders_paid', label: 'paid', color: STATUS_COLOR['201'] },
      { metric: 'orders_out_of_stock', label: 'out of stock', color: STATUS_COLOR['409'] },
      // 402's own shade is too pale for a line; a darker amber of the same class.
      { metric: 'orders_insufficient_points', label: 'no points', color: '#ca8a04' },
      { metric: 'orders_coupon_unavailable', label: 'coupon refused', color: '#c2410c' },
    ],

    async setup(ctx: ScenarioContext) {
      const userCount = ctx.params.users ?? Math.max(50, ctx.peakVUs * 4);
      const productCount = ctx.params.products ?? 20;
      const stock = ctx.params.stock ?? Math.max(10, Math.ceil((5 * userCount) / productCount));
      stamp = Date.now().toString(36);
      const rng = mulberry32(ctx.seed);
      ctx.log(
        `setup: ${userCount} users with ${SETUP_CHARGE} points, ${productCount} products of stock ${stock}`,
      );
      const users = await createUsers(
        ctx.api,
        ctx.adminToken,
        userCount,
        `drill-${stamp}`,
        ctx.log,
        ctx.runTag,
      );
      const products = await createProducts(
        ctx.api,
        ctx.adminToken,
        productCount,
        stock,
        `drill-${stamp}`,
        rng,
        ctx.runTag,
      );
      await chargeAll(ctx.api, users.tokens, SETUP_CHARGE, `drill-${stamp}-setup`);
      const half = Math.ceil(userCount / 2);
      const coupon = asObject(
        await ctx.api.must('POST', '/api/v1/admin/coupons', 201, {
          token: ctx.adminToken,
          body: {
            name: `drill checkout ${stamp}`,
            discount: { type: 'PERCENT', value: 10 },
            quantity: half,
            runTag: ctx.runTag,
          },
        }),
        'coupon',
      );
      const couponId = str(coupon, 'id', 'coupon');
      const claimed = await claimCoupon(ctx.api, users.tokens.slice(0, half), couponId);
      obs = {
        users,
        products,
        couponId,
        userCoupon: Array.from({ length: userCount }, (_, i) => (i < half ? claimed[i] : undefined)),
        couponSpent: new Uint8Array(userCount),
        attempts: new Uint32Array(userCount),
        charged: new Float64Array(userCount).fill(SETUP_CHARGE),
        chargeUnknown: new Uint8Array(userCount),
        paid: new Map(),
        orderUnknown: new Uint32Array(userCount),
        unexplainedCouponRefusals: 0,
      };
    },

    async iteration(vu: VirtualUser) {
      const o = obs;
      if (!o) throw new Error('checkout: iteration before setup');
      const u = vu.iterationInTest % o.users.ids.length;
      o.attempts[u]++;
      if (vu.rng() < 0.1) await topUp(vu, o, u);
      await order(vu, o, u);
    },

    audit(ctx: AuditContext): Promise<AuditResult> {
      if (!obs) throw new Error('checkout: audit before setup');
      return auditCheckout(ctx, obs);
    },

    describeSetup(): Record<string, number | string> {
      if (!obs) return {};
      return {
        users: obs.users.ids.length,
        products: obs.products.length,
        stockPerProduct: obs.products[0]?.stock ?? 0,
        couponId: obs.couponId,
        pointsPerUser: SETUP_CHARGE,
      };
    },
  };
}
