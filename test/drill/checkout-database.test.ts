/**
 * The checkout audit's PostgreSQL checks, judged on given facts: all pass when the database and
 * the API agree, and each one fails, with the first offender named, when its invariant breaks.
 * (commerce.test.ts runs them against a real server.)
 */
import { describe, expect, it } from 'vitest';
import type { CommerceFacts, UserCommerceFacts } from '../../src/drill/audit-queries.js';
import { type ApiUserView, checkoutDatabaseChecks } from '../../src/drill/scenarios/checkout-audit.js';

const commerce: CommerceFacts = {
  productsOff: 0,
  orders: 3,
  ordersWithCoupon: 1,
  couponsUsed: 1,
  walletsOff: 0,
};
const api: ApiUserView[] = [
  { id: '7', orders: 2, paidTotal: 3_000, balance: 17_000 },
  { id: '8', orders: 1, paidTotal: 900, balance: 19_100 },
  { id: '9', orders: null, paidTotal: null, balance: null }, // unreadable through the API: not compared
];
const db = new Map<string, UserCommerceFacts>([
  ['7', { orders: 2, paidTotal: 3_000, balance: 17_000 }],
  ['8', { orders: 1, paidTotal: 900, balance: 19_100 }],
  ['9', { orders: 0, paidTotal: 0, balance: 20_000 }],
]);

const byName = (r: ReturnType<typeof checkoutDatabaseChecks>) =>
  Object.fromEntries(r.checks.map((c) => [c.name, c]));

describe('checkout database checks', () => {
  it('pass when PostgreSQL holds what the API showed, all from the database', () => {
    const r = checkoutDatabaseChecks(5, commerce, api, db);
    expect(r.checks.map((c) => [c.name, c.ok, c.source])).toEqual([
      ['db_stock_conserved', true, 'database'],
      ['db_wallets_match_ledger', true, 'database'],
      ['db_coupon_orders_match_used', true, 'database'],
      ['db_orders_match_api', true, 'database'],
      ['db_balances_match_api', true, 'database'],
    ]);
    expect(r.facts).toEqual({
      dbOrders: 3,
      dbPaidTotal: 3_900,
      dbProductsOff: 0,
      dbWalletsOff: 0,
      dbOrdersWithCoupon: 1,
      dbCouponsUsed: 1,
    });
    expect(byName(r).db_orders_match_api.expected).toBe('2 users: the orders their API list shows');
  });

  it('fail on stock off, a wallet off its ledger, or a coupon used without (or twice for) an order', () => {
    const r = byName(
      checkoutDatabaseChecks(5, { ...commerce, productsOff: 1, walletsOff: 2, couponsUsed: 2 }, api, db),
    );
    expect(r.db_stock_conserved.ok).toBe(false);
    expect(r.db_stock_conserved.actual).toBe('1 differ');
    expect(r.db_wallets_match_ledger.ok).toBe(false);
    expect(r.db_wallets_match_ledger.actual).toBe('2');
    expect(r.db_coupon_orders_match_used.ok).toBe(false);
  });

  it('fail, naming the first user, when an order or a balance differs from the API', () => {
    const drifted = new Map(db);
    drifted.set('7', { orders: 3, paidTotal: 4_200, balance: 15_800 });
    const r = byName(checkoutDatabaseChecks(5, commerce, api, drifted));
    expect(r.db_orders_match_api.ok).toBe(false);
    expect(r.db_orders_match_api.detail).toBe(
      'first: user 7: the API lists 2 orders (total 3000), PostgreSQL holds 3 (total 4200)',
    );
    expect(r.db_balances_match_api.ok).toBe(false);
    expect(r.db_balances_match_api.detail).toBe(
      'first: user 7: the API shows 17000 points, point_wallets holds 15800',
    );
    const missing = byName(checkoutDatabaseChecks(5, commerce, api, new Map([['8', db.get('8')!]])));
    expect(missing.db_orders_match_api.actual).toBe('1 differ');
    expect(missing.db_balances_match_api.detail).toMatch(/user 7: .* holds no wallet/);
  });
});
