import { describe, expect, it } from 'vitest';
import {
  type BatchState,
  type Decision,
  decideBatch,
  discountFor,
  type LockedCoupon,
  type LockedProduct,
  type OrderDraft,
} from '../../src/modules/orders/allocate.js';
import {
  APPLY_SQL,
  applyParams,
  buildWriteSet,
  expectedCounts,
  placeAccepted,
} from '../../src/modules/orders/write-set.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');

function state(opts: {
  products?: LockedProduct[];
  coupons?: Partial<LockedCoupon>[];
  balances?: Record<string, number>;
}): BatchState {
  return {
    products: new Map((opts.products ?? []).map((p) => [p.id, { ...p }])),
    coupons: new Map(
      (opts.coupons ?? []).map((c) => [
        c.id!,
        {
          id: c.id!,
          userId: c.userId ?? 'u1',
          status: c.status ?? 'AVAILABLE',
          expiresAt: c.expiresAt ?? null,
          discountType: c.discountType ?? 'PERCENT',
          discountValue: c.discountValue ?? 10,
        },
      ]),
    ),
    balances: new Map(Object.entries(opts.balances ?? {})),
    nowMs: NOW,
  };
}

const product = (id: string, price: number, stock: number): LockedProduct => ({
  id,
  name: `p${id}`,
  price,
  stock,
});

const order = (
  userId: string,
  lines: [string, number][],
  userCouponId: string | null = null,
): OrderDraft => ({
  userId,
  lines: lines.map(([productId, quantity]) => ({ productId, quantity })),
  userCouponId,
});

const outcome = (d: Decision) => (d.ok ? 'ok' : d.code);

describe('decideBatch: each order against what the previous ones left', () => {
  it('shares stock between the orders of a batch in arrival order, and a short order takes nothing', () => {
    const s = state({
      products: [product('1', 100, 5), product('2', 10, 1)],
      balances: { u1: 1e6, u2: 1e6 },
    });
    const decisions = decideBatch(
      [
        order('u1', [['1', 2]]),
        order('u2', [['1', 2]]),
        order('u1', [
          ['2', 1],
          ['1', 2],
        ]), // product 1 has 1 left: refused, product 2 untouched
        order('u2', [['1', 1]]), // the last unit still goes to a later, smaller order
        order('u1', [['2', 1]]),
      ],
      s,
    );
    expect(decisions.map(outcome)).toEqual(['ok', 'ok', 'OUT_OF_STOCK', 'ok', 'ok']);
    expect(decisions[2]).toEqual({
      ok: false,
      code: 'OUT_OF_STOCK',
      detail: 'product 1 (p1) has 1 left; 2 requested',
    });
    expect(s.products.get('1')!.stock).toBe(0);
    expect(s.products.get('2')!.stock).toBe(0);
  });

  it('gives the last unit to whoever comes first: reversing the batch reverses the winner', () => {
    const drafts = [order('u1', [['1', 1]]), order('u2', [['1', 1]])];
    const balances = { u1: 100, u2: 100 };
    const forward = decideBatch(drafts, state({ products: [product('1', 10, 1)], balances }));
    const reverse = decideBatch([...drafts].reverse(), state({ products: [product('1', 10, 1)], balances }));
    expect(forward.map(outcome)).toEqual(['ok', 'OUT_OF_STOCK']);
    expect(reverse.map(outcome)).toEqual(['ok', 'OUT_OF_STOCK']);
    expect(reverse[0].ok && reverse[0].balanceAfter).toBe(90);
  });

  it('answers NOT_FOUND before looking at stock, and a missing product takes nothing', () => {
    const s = state({ products: [product('1', 10, 1)], balances: { u1: 100 } });
    const [d] = decideBatch(
      [
        order('u1', [
          ['1', 1],
          ['9', 5],
        ]),
      ],
      s,
    );
    expect(d).toEqual({ ok: false, code: 'NOT_FOUND', detail: 'no product 9' });
    expect(s.products.get('1')!.stock).toBe(1);
  });

  it('refuses an order the points no longer cover, chaining each user’s balance through the batch', () => {
    const s = state({ products: [product('1', 30, 100)], balances: { u1: 100 } });
    const decisions = decideBatch(
      [
        order('u1', [['1', 2]]), // 60 → 40 left
        order('u1', [['1', 2]]), // 60 > 40: refused, nothing taken
        order('u1', [['1', 1]]), // 30 → 10 left
        order('u2', [['1', 1]]), // no wallet: balance 0
      ],
      s,
    );
    expect(decisions.map(outcome)).toEqual(['ok', 'INSUFFICIENT_POINTS', 'ok', 'INSUFFICIENT_POINTS']);
    expect(decisions[1]).toEqual({
      ok: false,
      code: 'INSUFFICIENT_POINTS',
      detail: 'the order costs 60 points; the balance is 40',
    });
    expect(decisions[3]).toMatchObject({ detail: 'the order costs 30 points; the balance is 0' });
    expect(decisions.map((d) => (d.ok ? d.balanceAfter : null))).toEqual([40, null, 10, null]);
    expect(s.products.get('1')!.stock).toBe(97);
    expect(s.balances.get('u1')).toBe(10);
    expect(s.balances.has('u2')).toBe(false);
  });

  it('lets a coupon be used once per batch; a refused order does not use its coupon', () => {
    const s = state({
      products: [product('1', 100, 10)],
      coupons: [{ id: 'c1', userId: 'u1', discountType: 'AMOUNT', discountValue: 50 }],
      balances: { u1: 60 },
    });
    const decisions = decideBatch(
      [
        order('u1', [['1', 2]], 'c1'), // 200 − 50 = 150 > 60: refused, coupon kept
        order('u1', [['1', 1]], 'c1'), // 100 − 50 = 50: accepted, coupon used
        order('u1', [['1', 1]], 'c1'), // the same coupon again in the same batch
      ],
      s,
    );
    expect(decisions.map(outcome)).toEqual(['INSUFFICIENT_POINTS', 'ok', 'COUPON_UNAVAILABLE']);
    expect(decisions[2]).toEqual({
      ok: false,
      code: 'COUPON_UNAVAILABLE',
      detail: 'coupon c1 has already been used',
    });
    expect(s.coupons.get('c1')!.status).toBe('USED');
    expect(s.products.get('1')!.stock).toBe(9);
    expect(s.balances.get('u1')).toBe(10);
  });

  it('refuses someone else’s coupon exactly like a missing one, and an expired one', () => {
    const s = state({
      products: [product('1', 100, 10)],
      coupons: [
        { id: 'c2', userId: 'u2' },
        { id: 'c3', userId: 'u1', expiresAt: new Date(NOW) }, // expiry is exclusive: expired at NOW
        { id: 'c4', userId: 'u1', expiresAt: new Date(NOW + 1) },
      ],
      balances: { u1: 1000 },
    });
    const decisions = decideBatch(
      [
        order('u1', [['1', 1]], 'c2'),
        order('u1', [['1', 1]], 'c9'),
        order('u1', [['1', 1]], 'c3'),
        order('u1', [['1', 1]], 'c4'),
      ],
      s,
    );
    expect(decisions.map((d) => (d.ok ? 'ok' : d.detail))).toEqual([
      'coupon c2 is not one of yours',
      'coupon c9 is not one of yours',
      'coupon c3 has expired',
      'ok',
    ]);
    expect(s.coupons.get('c2')!.status).toBe('AVAILABLE');
  });

  it('applies PERCENT rounded down and AMOUNT capped at the subtotal, to the whole order', () => {
    const s = state({
      products: [product('1', 333, 10), product('2', 1000, 10)],
      coupons: [
        { id: 'pc', userId: 'u1', discountType: 'PERCENT', discountValue: 15 },
        { id: 'ac', userId: 'u1', discountType: 'AMOUNT', discountValue: 5000 },
      ],
      balances: { u1: 10_000 },
    });
    const [pct, amt] = decideBatch(
      [
        order(
          'u1',
          [
            ['1', 2],
            ['2', 1],
          ],
          'pc',
        ), // subtotal 1666, 15 % = 249.9 → 249
        order('u1', [['2', 3]], 'ac'), // subtotal 3000, 5000 capped → 3000, free
      ],
      s,
    );
    expect(pct).toMatchObject({ ok: true, subtotal: 1666, discount: 249, total: 1417, balanceAfter: 8583 });
    expect(amt).toMatchObject({ ok: true, subtotal: 3000, discount: 3000, total: 0, balanceAfter: 8583 });
    expect(pct.ok && pct.lines).toEqual([
      { productId: '1', quantity: 2, name: 'p1', unitPrice: 333, lineTotal: 666 },
      { productId: '2', quantity: 1, name: 'p2', unitPrice: 1000, lineTotal: 1000 },
    ]);
    expect(discountFor(100, 'PERCENT', 100)).toBe(100);
    expect(discountFor(100, 'AMOUNT', 0)).toBe(0);
  });

  it('returns one decision per draft, in the drafts’ order', () => {
    const drafts = Array.from({ length: 50 }, (_, i) => order(`u${i % 3}`, [['1', 1]]));
    const decisions = decideBatch(
      drafts,
      state({ products: [product('1', 1, 30)], balances: { u0: 5, u1: 100, u2: 100 } }),
    );
    expect(decisions).toHaveLength(50);
    // u0 (every third draft) can pay for 5 orders, so from draft 15 on only u1 and u2 are served,
    // and the 30th unit goes to draft 37; everything after is out of stock.
    const accepted = decisions.flatMap((d, i) => (d.ok ? [i] : []));
    expect(accepted).toHaveLength(30);
    expect(decisions.slice(0, 15).every((d) => d.ok)).toBe(true);
    expect(decisions[15]).toMatchObject({ ok: false, code: 'INSUFFICIENT_POINTS' });
    expect(Math.max(...accepted)).toBe(37);
    expect(decisions.slice(38).map(outcome)).toEqual(Array(12).fill('OUT_OF_STOCK'));
  });
});

describe('buildWriteSet: what a batch of accepted orders writes', () => {
  const paidAt = new Date('2026-11-21T12:00:00.000Z');

  function scenario() {
    const s = state({
      products: [product('7', 100, 10), product('3', 50, 10)],
      coupons: [{ id: 'c1', userId: 'u1', discountType: 'PERCENT', discountValue: 10 }],
      balances: { u1: 1000, u2: 100 },
    });
    const drafts = [
      order(
        'u1',
        [
          ['7', 2],
          ['3', 1],
        ],
        'c1',
      ), // 250 − 25 = 225 → u1 775
      order('u2', [['3', 5]]), // 250 > 100: refused
      order('u2', [['3', 2]]), // 100 → u2 0
      order('u1', [['7', 1]]), // 100 → u1 675
    ];
    const decisions = decideBatch(drafts, s);
    return { drafts, decisions };
  }

  it('pairs the order ids with the accepted decisions only, and refuses a wrong number of ids', () => {
    const { drafts, decisions } = scenario();
    const placed = placeAccepted(drafts, decisions, ['101', '102', '103']);
    expect(placed.map((p) => [p.index, p.orderId])).toEqual([
      [0, '101'],
      [2, '102'],
      [3, '103'],
    ]);
    expect(() => placeAccepted(drafts, decisions, ['101', '102'])).toThrow(/2 order ids for 3 accepted/);
    expect(placeAccepted([], [], [])).toEqual([]);
  });

  it('sums stock per product, keeps rows in decision order, and sets each wallet to its last balance', () => {
    const { drafts, decisions } = scenario();
    const ws = buildWriteSet(placeAccepted(drafts, decisions, ['101', '102', '103']), paidAt);
    expect(ws.stock).toEqual([
      { productId: '7', qty: 3 },
      { productId: '3', qty: 3 },
    ]);
    expect(ws.coupons).toEqual(['c1']);
    expect(ws.wallets).toEqual([
      { userId: 'u1', balance: 675 },
      { userId: 'u2', balance: 0 },
    ]);
    expect(ws.orders).toEqual([
      {
        id: '101',
        userId: 'u1',
        subtotal: 250,
        discount: 25,
        total: 225,
        userCouponId: 'c1',
        balanceAfter: 775,
      },
      {
        id: '102',
        userId: 'u2',
        subtotal: 100,
        discount: 0,
        total: 100,
        userCouponId: null,
        balanceAfter: 0,
      },
      {
        id: '103',
        userId: 'u1',
        subtotal: 100,
        discount: 0,
        total: 100,
        userCouponId: null,
        balanceAfter: 675,
      },
    ]);
    expect(ws.items).toEqual([
      { orderId: '101', productId: '7', quantity: 2, unitPrice: 100 },
      { orderId: '101', productId: '3', quantity: 1, unitPrice: 50 },
      { orderId: '102', productId: '3', quantity: 2, unitPrice: 50 },
      { orderId: '103', productId: '7', quantity: 1, unitPrice: 100 },
    ]);
    expect(ws.ledger).toEqual([
      { userId: 'u1', amount: -225, balanceAfter: 775, ref: 'order:101' },
      { userId: 'u2', amount: -100, balanceAfter: 0, ref: 'order:102' },
      { userId: 'u1', amount: -100, balanceAfter: 675, ref: 'order:103' },
    ]);
    expect(ws.events[0]).toEqual({
      userId: 'u1',
      payload: {
        orderId: '101',
        userId: 'u1',
        paidAt: '2026-11-21T12:00:00.000Z',
        total: 225,
        items: [
          { productId: '7', quantity: 2 },
          { productId: '3', quantity: 1 },
        ],
      },
      traceparent: null,
    });
    expect(ws.events.map((e) => e.payload.orderId)).toEqual(['101', '102', '103']);
    expect(expectedCounts(ws)).toEqual({
      stock: 2,
      coupons: 1,
      wallets: 2,
      orders: 3,
      items: 4,
      ledger: 3,
      events: 3,
    });
  });

  it('writes no ledger row and leaves the wallet alone for a free order, but still an order and an event', () => {
    const s = state({
      products: [product('1', 100, 1)],
      coupons: [{ id: 'c1', userId: 'u1', discountType: 'PERCENT', discountValue: 100 }],
    });
    const drafts = [order('u1', [['1', 1]], 'c1')];
    const ws = buildWriteSet(placeAccepted(drafts, decideBatch(drafts, s), ['5']), paidAt);
    expect(ws.orders).toMatchObject([{ id: '5', total: 0, balanceAfter: 0 }]);
    expect(ws.ledger).toEqual([]);
    expect(ws.wallets).toEqual([]);
    expect(ws.events).toHaveLength(1);
    expect(ws.coupons).toEqual(['c1']);
  });

  it('gives each event the traceparent of its own request (by draft index, refused ones skipped)', () => {
    const { drafts, decisions } = scenario();
    const placed = placeAccepted(drafts, decisions, ['101', '102', '103']);
    const ws = buildWriteSet(placed, paidAt, (i) => `tp-${i}`);
    expect(ws.events.map((e) => e.traceparent)).toEqual(placed.map((p) => `tp-${p.index}`));
    expect(applyParams(ws)[23]).toEqual(placed.map((p) => `tp-${p.index}`));
  });

  it('fills every parameter of the one statement, as parallel columns', () => {
    const { drafts, decisions } = scenario();
    const ws = buildWriteSet(placeAccepted(drafts, decisions, ['101', '102', '103']), paidAt);
    const params = applyParams(ws);
    const highest = Math.max(...[...APPLY_SQL.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
    expect(params).toHaveLength(highest);
    expect(params.slice(0, 5)).toEqual([['7', '3'], [3, 3], ['c1'], ['u1', 'u2'], [675, 0]]);
    expect(params.slice(5, 12)).toEqual([
      ['101', '102', '103'],
      ['u1', 'u2', 'u1'],
      [250, 100, 100],
      [25, 0, 0],
      [225, 100, 100],
      ['c1', null, null],
      [775, 0, 675],
    ]);
    expect(params.slice(12, 16)).toEqual([
      ['101', '101', '102', '103'],
      ['7', '3', '3', '7'],
      [2, 1, 2, 1],
      [100, 50, 50, 100],
    ]);
    expect(params.slice(16, 20)).toEqual([
      ['u1', 'u2', 'u1'],
      [-225, -100, -100],
      [775, 0, 675],
      ['order:101', 'order:102', 'order:103'],
    ]);
    expect(params[20]).toEqual(['u1', 'u2', 'u1']);
    expect((params[21] as string[]).map((p) => JSON.parse(p))).toEqual(ws.events.map((e) => e.payload));
    expect(params[22]).toBe(paidAt);
    expect(params[23]).toEqual([null, null, null]);
  });
});
