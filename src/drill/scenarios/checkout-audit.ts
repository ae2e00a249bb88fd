/**
 * The checkout audit, through the API, at least 1.1 s after the load (stock may lag by 1 s).
 * It reads every product (GET /api/v1/products/:id), every drill user's orders (GET
 * /api/v1/me/orders, all pages) and points (GET /api/v1/me/points). The server's order lists are
 * the truth for what was sold; the drill's own record (201s, acknowledged charges) is compared
 * with them.
 *
 * Checks: lists_readable · no_oversell (stock ≥ 0, sold ≤ initial) · stock_conserved (stock +
 * sold = initial, per product) · acknowledged_orders_exist (every 201 is listed, same total) ·
 * no_unacknowledged_orders (listed orders without a 201 ≤ attempts with unknown outcome) ·
 * points_balance (balance = charges − paid, per user whose charges are all known) ·
 * coupon_used_once · order_totals_consistent (total = subtotal − discount = Σ lines − discount) ·
 * coupon_refusals_explained (COUPON_UNAVAILABLE only for a coupon already spent).
 *
 * With the target's database (embedded mode, or --database-url) it also reads PostgreSQL:
 * db_stock_conserved (the drill's products: stock ≥ 0, stock + units in order_items = initial) ·
 * db_wallets_match_ledger (every wallet = the sum of its ledger) · db_coupon_orders_match_used
 * (orders with a coupon = user coupons USED) · db_orders_match_api (each drill user's orders and
 * their totals, as the API listed them) · db_balances_match_api (each drill user's balance).
 * The wallet and coupon checks cover the whole database; the others only the drill's own rows.
 * Products are assumed to be bought only by this drill's users (true for a drill's own server).
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { type AuditCheck, type AuditResult, auditDatabase, check, verdictOf } from '../audit.js';
import {
  type CommerceFacts,
  readCommerceFacts,
  readUserCommerceFacts,
  type UserCommerceFacts,
  withDatabase,
} from '../audit-queries.js';
import { mapLimit } from '../concurrency.js';
import { asArray, asObject, int, optStr, str } from '../shape.js';
import type { CheckoutObservations } from './checkout-types.js';
import type { AuditContext } from './types.js';

const STOCK_LAG_MS = 1_100;

interface ServerOrder {
  orderId: string;
  total: number;
  consistent: boolean;
  userCouponId?: string;
  lines: { productId: string; quantity: number }[];
}

interface UserState {
  orders: ServerOrder[] | null;
  balance: number | null;
  error?: string;
}

async function readOrders(ctx: AuditContext, token: string): Promise<ServerOrder[]> {
  const out: ServerOrder[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const q = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
    const json = asObject(await ctx.api.must('GET', `/api/v1/me/orders${q}`, 200, { token }), 'me/orders');
    for (const it of asArray(json.items, 'me/orders.items')) {
      const o = asObject(it, 'order');
      const lines = asArray(o.items, 'order.items').map((l) => {
        const x = asObject(l, 'order line');
        return {
          productId: str(x, 'productId', 'order line'),
          quantity: int(x, 'quantity', 'order line'),
          lineTotal: int(x, 'lineTotal', 'order line'),
        };
      });
      const subtotal = int(o, 'subtotal', 'order');
      const discount = int(o, 'discount', 'order');
      const total = int(o, 'total', 'order');
      out.push({
        orderId: str(o, 'orderId', 'order'),
        total,
        consistent: total === subtotal - discount && subtotal === lines.reduce((s, l) => s + l.lineTotal, 0),
        userCouponId: optStr(o, 'userCouponId', 'order'),
        lines: lines.map(({ productId, quantity }) => ({ productId, quantity })),
      });
    }
    cursor = optStr(json, 'nextCursor', 'me/orders');
    if (!cursor) return out;
  }
  throw new Error('me/orders: more than 10,000 pages');
}

async function readUser(ctx: AuditContext, token: string): Promise<UserState> {
  try {
    const orders = await readOrders(ctx, token);
    const points = asObject(await ctx.api.must('GET', '/api/v1/me/points', 200, { token }), 'me/points');
    return { orders, balance: int(points, 'balance', 'me/points') };
  } catch (err) {
    return { orders: null, balance: null, error: (err as Error).message };
  }
}

/** What the API showed of one drill user; null when their orders or points could not be read. */
export interface ApiUserView {
  id: string;
  orders: number | null;
  paidTotal: number | null;
  balance: number | null;
}

/** The PostgreSQL checks of a checkout run, from the facts read there and what the API showed. */
export function checkoutDatabaseChecks(
  products: number,
  commerce: CommerceFacts,
  api: readonly ApiUserView[],
  db: ReadonlyMap<string, UserCommerceFacts>,
): { checks: AuditCheck[]; facts: AuditResult['facts'] } {
  let ordersCompared = 0;
  let ordersDiffer = 0;
  let firstOrders = '';
  let balancesCompared = 0;
  let balancesDiffer = 0;
  let firstBalance = '';
  let dbOrders = 0;
  let dbPaidTotal = 0;
  for (const u of api) {
    const row = db.get(u.id);
    dbOrders += row?.orders ?? 0;
    dbPaidTotal += row?.paidTotal ?? 0;
    if (u.orders !== null && u.paidTotal !== null) {
      ordersCompared++;
      if (!row || row.orders !== u.orders || row.paidTotal !== u.paidTotal) {
        ordersDiffer++;
        firstOrders ||= `user ${u.id}: the API lists ${u.orders} orders (total ${u.paidTotal}), PostgreSQL holds ${row?.orders ?? 0} (total ${row?.paidTotal ?? 0})`;
      }
    }
    if (u.balance !== null) {
      balancesCompared++;
      const stored = row?.balance ?? null;
      if (stored !== u.balance) {
        balancesDiffer++;
        firstBalance ||= `user ${u.id}: the API shows ${u.balance} points, point_wallets holds ${stored ?? 'no wallet'}`;
      }
    }
  }
  const checks = [
    check(
      'db_stock_conserved',
      commerce.productsOff === 0,
      `stock ≥ 0 and stock + sold = initial for ${products} products`,
      `${commerce.productsOff} differ`,
      "products.stock plus the units in order_items equals the initial stock of each of the drill's products",
      'database',
    ),
    check(
      'db_wallets_match_ledger',
      commerce.walletsOff === 0,
      0,
      commerce.walletsOff,
      'wallets whose balance is not the sum of their point_ledger rows (every wallet in the database)',
      'database',
    ),
    check(
      'db_coupon_orders_match_used',
      commerce.ordersWithCoupon === commerce.couponsUsed,
      `${commerce.couponsUsed} user coupons USED`,
      `${commerce.ordersWithCoupon} orders with a coupon`,
      'every coupon marked USED paid for exactly one order (whole database)',
      'database',
    ),
    check(
      'db_orders_match_api',
      ordersDiffer === 0,
      `${ordersCompared} users: the orders their API list shows`,
      `${ordersDiffer} differ`,
      ordersDiffer
        ? `first: ${firstOrders}`
        : 'PostgreSQL holds exactly the orders (and totals) each drill user sees',
      'database',
    ),
    check(
      'db_balances_match_api',
      balancesDiffer === 0,
      `${balancesCompared} users: the balance the API shows`,
      `${balancesDiffer} differ`,
      balancesDiffer
        ? `first: ${firstBalance}`
        : "point_wallets holds each drill user's balance as the API shows it",
      'database',
    ),
  ];
  return {
    checks,
    facts: {
      dbOrders,
      dbPaidTotal,
      dbProductsOff: commerce.productsOff,
      dbWalletsOff: commerce.walletsOff,
      dbOrdersWithCoupon: commerce.ordersWithCoupon,
      dbCouponsUsed: commerce.couponsUsed,
    },
  };
}

export async function auditCheckout(ctx: AuditContext, o: CheckoutObservations): Promise<AuditResult> {
  const wait = STOCK_LAG_MS - (performance.now() - ctx.loadEndedAt);
  if (wait > 0) await sleepMs(wait);
  const userCount = o.users.ids.length;
  ctx.log(`audit: reading ${o.products.length} products and the orders and points of ${userCount} users`);
  const stocks = await mapLimit(o.products, 16, async (p) =>
    int(asObject(await ctx.api.must('GET', `/api/v1/products/${p.id}`, 200), 'product'), 'stock', 'product'),
  );
  const states = await mapLimit(o.users.tokens, 32, (token) => readUser(ctx, token));

  const sold = new Map<string, number>(o.products.map((p) => [p.id, 0]));
  let unreadable = 0;
  let firstUnreadable = '';
  let missingAcks = 0;
  let firstMissing = '';
  let unacknowledged = 0;
  let pointsWrong = 0;
  let firstPointsWrong = '';
  let pointsChecked = 0;
  let inconsistentTotals = 0;
  let serverOrders = 0;
  let acked = 0;
  const couponUses = new Map<string, number>();
  states.forEach((st, u) => {
    if (!st.orders || st.balance === null) {
      unreadable++;
      firstUnreadable ||= `user ${o.users.ids[u]}: ${st.error}`;
      return;
    }
    const byId = new Map(st.orders.map((x) => [x.orderId, x]));
    serverOrders += st.orders.length;
    let paidTotal = 0;
    for (const ord of st.orders) {
      paidTotal += ord.total;
      if (!ord.consistent) inconsistentTotals++;
      if (ord.userCouponId) couponUses.set(ord.userCouponId, (couponUses.get(ord.userCouponId) ?? 0) + 1);
      for (const l of ord.lines)
        if (sold.has(l.productId)) sold.set(l.productId, (sold.get(l.productId) ?? 0) + l.quantity);
    }
    const mine = o.paid.get(u) ?? [];
    acked += mine.length;
    for (const p of mine) {
      const found = byId.get(p.orderId);
      if (!found || found.total !== p.total) {
        missingAcks++;
        firstMissing ||= `user ${o.users.ids[u]}: order ${p.orderId} (total ${p.total}) ${found ? `is listed with total ${found.total}` : 'is not listed'}`;
      }
    }
    const extra = st.orders.length - mine.length;
    if (extra > o.orderUnknown[u]) unacknowledged += extra - o.orderUnknown[u];
    if (!o.chargeUnknown[u]) {
      pointsChecked++;
      const expected = o.charged[u] - paidTotal;
      if (st.balance !== expected) {
        pointsWrong++;
        firstPointsWrong ||= `user ${o.users.ids[u]}: balance ${st.balance}, charges ${o.charged[u]} − paid ${paidTotal} = ${expected}`;
      }
    }
  });

  let negative = 0;
  let oversold = 0;
  let notConserved = 0;
  let firstNotConserved = '';
  o.products.forEach((p, i) => {
    const s = sold.get(p.id) ?? 0;
    if (stocks[i] < 0) negative++;
    if (s > p.stock) oversold++;
    if (stocks[i] + s !== p.stock) {
      notConserved++;
      firstNotConserved ||= `product ${p.id}: stock ${stocks[i]} + sold ${s} ≠ initial ${p.stock}`;
    }
  });
  const reusedCoupons = [...couponUses.values()].filter((n) => n > 1).length;

  const checks: AuditCheck[] = [
    check(
      'lists_readable',
      unreadable === 0,
      `${userCount} users`,
      `${userCount - unreadable} readable`,
      unreadable ? `first: ${firstUnreadable}` : 'every user could read their orders and points',
    ),
    check(
      'no_oversell',
      negative === 0 && oversold === 0,
      '0 products',
      `${negative} with negative stock, ${oversold} sold beyond stock`,
      'units sold never exceed the initial stock',
    ),
    check(
      'stock_conserved',
      notConserved === 0,
      `stock + sold = initial for ${o.products.length} products`,
      `${notConserved} differ`,
      notConserved ? `first: ${firstNotConserved}` : 'no unit lost or created',
    ),
    check(
      'acknowledged_orders_exist',
      missingAcks === 0,
      `${acked} acknowledged orders listed`,
      `${acked - missingAcks} found`,
      missingAcks ? `first: ${firstMissing}` : 'every 201 is durable and visible to its buyer',
    ),
    check(
      'no_unacknowledged_orders',
      unacknowledged === 0,
      0,
      unacknowledged,
      'orders the server holds that no 201 (or lost answer) accounts for',
    ),
    check(
      'points_balance',
      pointsWrong === 0,
      `balance = charges − paid for ${pointsChecked} users`,
      `${pointsWrong} differ`,
      pointsWrong ? `first: ${firstPointsWrong}` : 'no point lost or created',
    ),
    check(
      'coupon_used_once',
      reusedCoupons === 0,
      0,
      reusedCoupons,
      'a user coupon pays for at most one order',
    ),
    check(
      'order_totals_consistent',
      inconsistentTotals === 0,
      0,
      inconsistentTotals,
      'total = subtotal − discount and subtotal = Σ line totals',
    ),
    check(
      'coupon_refusals_explained',
      o.unexplainedCouponRefusals === 0,
      0,
      o.unexplainedCouponRefusals,
      'COUPON_UNAVAILABLE for a coupon the user held and had not spent',
    ),
  ];
  const soldTotal = [...sold.values()].reduce((a, b) => a + b, 0);
  const facts: AuditResult['facts'] = {
    products: o.products.length,
    initialStockTotal: o.products.reduce((s, p) => s + p.stock, 0),
    soldUnits: soldTotal,
    serverOrders,
    answered201: acked,
    usersPointsChecked: pointsChecked,
  };
  const notes = ["Products are assumed to be bought only by this drill's users."];

  await auditDatabase(ctx.databaseUrl, { checks, notes }, async (url) => {
    const api: ApiUserView[] = states.map((st, u) => ({
      id: o.users.ids[u],
      orders: st.orders ? st.orders.length : null,
      paidTotal: st.orders ? st.orders.reduce((sum, x) => sum + x.total, 0) : null,
      balance: st.balance,
    }));
    ctx.log(`audit: reading stock, orders, wallets and ledgers in PostgreSQL`);
    const initial = new Map(o.products.map((p) => [p.id, p.stock]));
    const [commerce, users] = await withDatabase(
      url,
      async (db) =>
        [await readCommerceFacts(db, initial), await readUserCommerceFacts(db, o.users.ids)] as const,
      'stampede-drill-audit',
    );
    const db = checkoutDatabaseChecks(o.products.length, commerce, api, users);
    checks.push(...db.checks);
    Object.assign(facts, db.facts);
  });
  return { verdict: verdictOf(checks), checks, facts, notes };
}
