/**
 * What a batch of accepted orders writes, as data: `buildWriteSet` turns the decisions taken under
 * lock into one typed write-set (pure, no I/O), `applyParams` turns a write-set into the parameters
 * of `APPLY_SQL`, the ONE statement that writes it all, and `expectedCounts` says how many rows each
 * part of that statement must report. The repository runs the statement and compares the counts.
 *
 * Every row in a write-set comes from an accepted decision; a refused order contributes nothing.
 */
import type { OrderPaidPayload } from '../outbox/events.js';
import type { AcceptedDecision, Decision, OrderDraft } from './allocate.js';

/** An accepted order with the id it was given, and its position in the batch's drafts. */
export interface PlacedOrder {
  index: number;
  orderId: string;
  draft: OrderDraft;
  decision: AcceptedDecision;
}

export interface OrderWriteSet {
  paidAt: Date;
  /** One row per product: the units taken by the whole batch, in the order products first appear. */
  stock: { productId: string; qty: number }[];
  /** User coupons marked USED (each at most once: a coupon used twice in a batch is refused). */
  coupons: string[];
  /** One row per user charged: the balance after their last accepted order. */
  wallets: { userId: string; balance: number }[];
  orders: {
    id: string;
    userId: string;
    subtotal: number;
    discount: number;
    total: number;
    userCouponId: string | null;
    balanceAfter: number;
  }[];
  items: { orderId: string; productId: string; quantity: number; unitPrice: number }[];
  /** One USE row per order with a positive total, in decision order (balance_after follows the ids). */
  ledger: { userId: string; amount: number; balanceAfter: number; ref: string }[];
  /** One order.paid outbox event per order, in decision order, with its request's traceparent. */
  events: { userId: string; payload: OrderPaidPayload; traceparent: string | null }[];
}

/**
 * Pairs the accepted decisions, in order, with the order ids drawn for them (`orderIds[n]` goes to
 * the n-th accepted decision). Throws if there are not exactly as many ids as accepted decisions.
 */
export function placeAccepted(
  drafts: OrderDraft[],
  decisions: Decision[],
  orderIds: string[],
): PlacedOrder[] {
  const placed: PlacedOrder[] = [];
  decisions.forEach((decision, index) => {
    if (decision.ok) {
      placed.push({ index, orderId: orderIds[placed.length], draft: drafts[index], decision });
    }
  });
  if (placed.length !== orderIds.length) {
    throw new Error(`${orderIds.length} order ids for ${placed.length} accepted orders`);
  }
  return placed;
}

/** The writes of the placed orders, in their order. Pure. */
export function buildWriteSet(
  placed: PlacedOrder[],
  paidAt: Date,
  traceparentOf: (index: number) => string | null = () => null,
): OrderWriteSet {
  const stock = new Map<string, number>();
  const wallets = new Map<string, number>();
  const ws: OrderWriteSet = {
    paidAt,
    stock: [],
    coupons: [],
    wallets: [],
    orders: [],
    items: [],
    ledger: [],
    events: [],
  };
  for (const { index, orderId, draft, decision: d } of placed) {
    for (const l of d.lines) {
      stock.set(l.productId, (stock.get(l.productId) ?? 0) + l.quantity);
      ws.items.push({ orderId, productId: l.productId, quantity: l.quantity, unitPrice: l.unitPrice });
    }
    if (draft.userCouponId) ws.coupons.push(draft.userCouponId);
    ws.orders.push({
      id: orderId,
      userId: draft.userId,
      subtotal: d.subtotal,
      discount: d.discount,
      total: d.total,
      userCouponId: draft.userCouponId,
      balanceAfter: d.balanceAfter,
    });
    // A free order (total 0) moves no points: no ledger row, and its wallet is left as it is.
    if (d.total > 0) {
      ws.ledger.push({
        userId: draft.userId,
        amount: -d.total,
        balanceAfter: d.balanceAfter,
        ref: `order:${orderId}`,
      });
      wallets.set(draft.userId, d.balanceAfter);
    }
    ws.events.push({
      userId: draft.userId,
      payload: {
        orderId,
        userId: draft.userId,
        paidAt: paidAt.toISOString(),
        total: d.total,
        items: d.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
      },
      traceparent: traceparentOf(index),
    });
  }
  ws.stock = [...stock].map(([productId, qty]) => ({ productId, qty }));
  ws.wallets = [...wallets].map(([userId, balance]) => ({ userId, balance }));
  return ws;
}

/**
 * All writes of a write-set in one statement (sibling data-modifying CTEs; foreign keys are checked
 * at the end of the statement). Products, coupons and wallets must have been locked before, in the
 * global lock order, by the same transaction. Wallets are set to the balance computed under lock;
 * ledger rows and events are inserted in write-set order (WITH ORDINALITY … ORDER BY n), so ledger
 * balance_after values follow the ids. A coupon is marked USED only if it still is AVAILABLE; one
 * that is not is left alone and the `coupons` count comes back short.
 *
 * Parameters ($n, filled by `applyParams`): $1,$2 stock; $3 coupons; $4,$5 wallets; $6..$12 orders;
 * $13..$16 items; $17..$20 ledger; $21,$22,$24 events (user, payload, traceparent); $23 paidAt.
 */
export const APPLY_SQL = `
WITH stock AS (
  UPDATE products p SET stock = p.stock - t.q
  FROM unnest($1::bigint[], $2::int[]) AS t(id, q) WHERE p.id = t.id
  RETURNING 1
), coupons AS (
  UPDATE user_coupons SET status = 'USED', used_at = $23 WHERE id = ANY($3::bigint[]) AND status = 'AVAILABLE'
  RETURNING 1
), wallets AS (
  UPDATE point_wallets w SET balance = t.b, updated_at = $23
  FROM unnest($4::bigint[], $5::bigint[]) AS t(u, b) WHERE w.user_id = t.u
  RETURNING 1
), ord AS (
  INSERT INTO orders (id, user_id, status, subtotal, discount, total, user_coupon_id, balance_after, paid_at)
  SELECT id, u, 'PAID', s, d, tot, c, b, $23
  FROM unnest($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[])
    AS t(id, u, s, d, tot, c, b)
  RETURNING 1
), items AS (
  INSERT INTO order_items (order_id, product_id, quantity, unit_price)
  SELECT o, p, q, pr FROM unnest($13::bigint[], $14::bigint[], $15::int[], $16::bigint[]) AS t(o, p, q, pr)
  RETURNING 1
), ledger AS (
  INSERT INTO point_ledger (user_id, type, amount, balance_after, ref, created_at)
  SELECT u, 'USE', a, b, r, $23
  FROM unnest($17::bigint[], $18::bigint[], $19::bigint[], $20::text[]) WITH ORDINALITY AS t(u, a, b, r, n)
  ORDER BY n
  RETURNING 1
), events AS (
  INSERT INTO outbox (topic, user_id, payload, created_at, traceparent)
  SELECT 'order.paid', u, p, $23, tp FROM unnest($21::bigint[], $22::jsonb[], $24::text[]) WITH ORDINALITY AS t(u, p, tp, n)
  ORDER BY n
  RETURNING 1
)
SELECT (SELECT count(*) FROM stock)::int AS stock, (SELECT count(*) FROM coupons)::int AS coupons,
       (SELECT count(*) FROM wallets)::int AS wallets, (SELECT count(*) FROM ord)::int AS orders,
       (SELECT count(*) FROM items)::int AS items, (SELECT count(*) FROM ledger)::int AS ledger,
       (SELECT count(*) FROM events)::int AS events`;

/** The row counts `APPLY_SQL` reports, one per part of the write-set. */
export interface AppliedCounts {
  stock: number;
  coupons: number;
  wallets: number;
  orders: number;
  items: number;
  ledger: number;
  events: number;
}

/** The parameters of `APPLY_SQL` for a write-set: each part as parallel columns, in row order. */
export function applyParams(ws: OrderWriteSet): unknown[] {
  const col = <T, K extends keyof T>(rows: T[], key: K): T[K][] => rows.map((r) => r[key]);
  return [
    col(ws.stock, 'productId'), //          $1
    col(ws.stock, 'qty'), //                $2
    ws.coupons, //                          $3
    col(ws.wallets, 'userId'), //           $4
    col(ws.wallets, 'balance'), //          $5
    col(ws.orders, 'id'), //                $6
    col(ws.orders, 'userId'), //            $7
    col(ws.orders, 'subtotal'), //          $8
    col(ws.orders, 'discount'), //          $9
    col(ws.orders, 'total'), //             $10
    col(ws.orders, 'userCouponId'), //      $11
    col(ws.orders, 'balanceAfter'), //      $12
    col(ws.items, 'orderId'), //            $13
    col(ws.items, 'productId'), //          $14
    col(ws.items, 'quantity'), //           $15
    col(ws.items, 'unitPrice'), //          $16
    col(ws.ledger, 'userId'), //            $17
    col(ws.ledger, 'amount'), //            $18
    col(ws.ledger, 'balanceAfter'), //      $19
    col(ws.ledger, 'ref'), //               $20
    col(ws.events, 'userId'), //            $21
    ws.events.map((e) => JSON.stringify(e.payload)), // $22
    ws.paidAt, //                           $23
    col(ws.events, 'traceparent'), //       $24
  ];
}

/**
 * What a correct application of the write-set reports: every row of every part written exactly
 * once (a product, coupon or wallet missing, or a coupon no longer AVAILABLE, shows as fewer).
 */
export function expectedCounts(ws: OrderWriteSet): AppliedCounts {
  return {
    stock: ws.stock.length,
    coupons: ws.coupons.length,
    wallets: ws.wallets.length,
    orders: ws.orders.length,
    items: ws.items.length,
    ledger: ws.ledger.length,
    events: ws.events.length,
  };
}
