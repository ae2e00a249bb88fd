/**
 * Orders SQL. `placeBatch` is the group-commit executor: ONE transaction places a whole batch of
 * orders, each taken entirely (stock, coupon, points, order rows, ledger row, outbox event,
 * idempotency response) or not at all.
 *
 * Deadlock freedom: every transaction here takes its locks in one global order — idempotency keys
 * (user_id, key) → products (id) → user_coupons (id) → point_wallets (user_id) — each set in
 * ascending order, and all locks are taken before any write. The points charge takes key → wallet,
 * a suffix of the same order, so no mix of orders and charges can wait in a cycle.
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';
import type { IdempotencyRepository, KeyClaim, KeyRecord } from '../idempotency/repository.js';
import { refId } from '../idempotency/repository.js';
import {
  type BatchState,
  type Decision,
  decideBatch,
  type LockedCoupon,
  type LockedProduct,
  type OrderDraft,
} from './allocate.js';

export interface PlaceRequest {
  draft: OrderDraft;
  idem: KeyClaim | null;
}

export interface OrderItemView {
  productId: string;
  name: string;
  quantity: number;
  unitPrice: number;
  lineTotal: number;
}

/** The 201 body of POST /orders and the body of GET /orders/:id. */
export interface OrderView {
  orderId: string;
  status: 'PAID';
  items: OrderItemView[];
  subtotal: number;
  discount: number;
  total: number;
  balanceAfter: number;
  userCouponId?: string;
  createdAt: string;
}

export type PlaceResult =
  | { kind: 'PAID'; order: OrderView }
  | { kind: 'REJECTED'; code: Exclude<Decision, { ok: true }>['code']; detail: string }
  /** The Idempotency-Key was already used (committed by another request). */
  | { kind: 'TAKEN'; record: KeyRecord }
  /** Another request with the key is in this very batch or vanished mid-way: answer IN_PROGRESS. */
  | { kind: 'BUSY' };

const byBigint = (a: string, b: string) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0);

/**
 * All writes of the accepted orders in one statement (sibling data-modifying CTEs; foreign keys are
 * checked at the end of the statement). Products, coupons and wallets were locked before.
 * Wallets are set to the balance computed under lock; ledger rows are appended in decision order so
 * their balance_after values follow the ids.
 */
const APPLY_SQL = `
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
  INSERT INTO outbox (topic, user_id, payload, created_at)
  SELECT 'order.paid', u, p, $23 FROM unnest($21::bigint[], $22::jsonb[]) WITH ORDINALITY AS t(u, p, n)
  ORDER BY n
  RETURNING 1
)
SELECT (SELECT count(*) FROM stock)::int AS stock, (SELECT count(*) FROM coupons)::int AS coupons,
       (SELECT count(*) FROM wallets)::int AS wallets, (SELECT count(*) FROM ord)::int AS orders,
       (SELECT count(*) FROM items)::int AS items, (SELECT count(*) FROM ledger)::int AS ledger,
       (SELECT count(*) FROM events)::int AS events`;

interface OrderRow {
  id: string;
  subtotal: number;
  discount: number;
  total: number;
  balanceAfter: number;
  userCouponId: string | null;
  paidAt: Date;
}

interface ItemRow {
  orderId: string;
  productId: string;
  name: string;
  quantity: number;
  unitPrice: number;
}

export class OrdersRepository {
  constructor(
    private readonly pool: Pool,
    private readonly idem: IdempotencyRepository,
  ) {}

  /** The group-commit executor; one result per request, in order. */
  async placeBatch(reqs: PlaceRequest[]): Promise<PlaceResult[]> {
    const results = new Array<PlaceResult | undefined>(reqs.length);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const active = await this.claimKeys(client, reqs, results);
      if (active.length > 0) await this.placeActive(client, reqs, active, results);
      await client.query('COMMIT');
      return results.map((r) => r ?? { kind: 'BUSY' });
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** Claims the batch's Idempotency-Keys; returns the indexes of requests that go on. */
  private async claimKeys(client: PoolClient, reqs: PlaceRequest[], results: (PlaceResult | undefined)[]) {
    const claims = reqs.flatMap((r) => (r.idem ? [r.idem] : []));
    const claimed = await this.idem.claimMany(client, claims);
    const lost = claims.filter((c) => !claimed.has(refId(c)));
    const records = await this.idem.findMany(client, lost);
    const seen = new Set<string>();
    const active: number[] = [];
    reqs.forEach((r, i) => {
      if (!r.idem) {
        active.push(i);
        return;
      }
      const id = refId(r.idem);
      if (claimed.has(id) && !seen.has(id)) {
        seen.add(id);
        active.push(i);
        return;
      }
      const record = records.get(id);
      results[i] = record ? { kind: 'TAKEN', record } : { kind: 'BUSY' };
    });
    return active;
  }

  private async placeActive(
    client: PoolClient,
    reqs: PlaceRequest[],
    active: number[],
    results: (PlaceResult | undefined)[],
  ): Promise<void> {
    const drafts = active.map((i) => reqs[i].draft);
    const productIds = [...new Set(drafts.flatMap((d) => d.lines.map((l) => l.productId)))].sort(byBigint);
    const couponIds = [...new Set(drafts.flatMap((d) => (d.userCouponId ? [d.userCouponId] : [])))].sort(
      byBigint,
    );
    const userIds = [...new Set(drafts.map((d) => d.userId))].sort(byBigint);

    // Locks, in the global order (see the module comment). ORDER BY under FOR UPDATE locks in that order.
    const products = await client.query<LockedProduct>(
      `SELECT id::text AS id, name, price::float8 AS price, stock FROM products
       WHERE id = ANY($1::bigint[]) ORDER BY products.id FOR UPDATE`,
      [productIds],
    );
    const coupons =
      couponIds.length === 0
        ? { rows: [] as LockedCoupon[] }
        : await client.query<LockedCoupon>(
            `SELECT uc.id::text AS id, uc.user_id::text AS "userId", uc.status, uc.expires_at AS "expiresAt",
                    c.discount_type AS "discountType", c.discount_value AS "discountValue"
             FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
             WHERE uc.id = ANY($1::bigint[]) ORDER BY uc.id FOR UPDATE OF uc`,
            [couponIds],
          );
    const wallets = await client.query<{ userId: string; balance: number }>(
      `SELECT user_id::text AS "userId", balance::float8 AS balance FROM point_wallets
       WHERE user_id = ANY($1::bigint[]) ORDER BY user_id FOR UPDATE`,
      [userIds],
    );

    const paidAt = new Date();
    const state: BatchState = {
      products: new Map(products.rows.map((p) => [p.id, { ...p }])),
      coupons: new Map(coupons.rows.map((c) => [c.id, { ...c }])),
      balances: new Map(wallets.rows.map((w) => [w.userId, w.balance])),
      nowMs: paidAt.getTime(),
    };
    const decisions = decideBatch(drafts, state);
    const accepted = decisions.flatMap((d, k) => (d.ok ? [k] : []));

    const ids =
      accepted.length === 0
        ? []
        : (
            await client.query<{ id: string }>(
              `SELECT nextval(pg_get_serial_sequence('orders', 'id'))::text AS id FROM generate_series(1, $1)`,
              [accepted.length],
            )
          ).rows.map((r) => r.id);

    const done: { userId: string; key: string; status: number; body: unknown }[] = [];
    const released: KeyClaim[] = [];
    const w = {
      stock: new Map<string, number>(),
      coupons: [] as string[],
      orders: {
        id: [] as string[],
        u: [] as string[],
        s: [] as number[],
        d: [] as number[],
        t: [] as number[],
        c: [] as (string | null)[],
        b: [] as number[],
      },
      items: { o: [] as string[], p: [] as string[], q: [] as number[], pr: [] as number[] },
      ledger: { u: [] as string[], a: [] as number[], b: [] as number[], r: [] as string[] },
      events: { u: [] as string[], p: [] as string[] },
    };
    let n = 0;
    decisions.forEach((d, k) => {
      const i = active[k];
      const { draft, idem } = reqs[i];
      if (!d.ok) {
        results[i] = { kind: 'REJECTED', code: d.code, detail: d.detail };
        if (idem) released.push(idem);
        return;
      }
      const orderId = ids[n++];
      const order: OrderView = {
        orderId,
        status: 'PAID',
        items: d.lines.map((l) => ({
          productId: l.productId,
          name: l.name,
          quantity: l.quantity,
          unitPrice: l.unitPrice,
          lineTotal: l.lineTotal,
        })),
        subtotal: d.subtotal,
        discount: d.discount,
        total: d.total,
        balanceAfter: d.balanceAfter,
        ...(draft.userCouponId ? { userCouponId: draft.userCouponId } : {}),
        createdAt: paidAt.toISOString(),
      };
      results[i] = { kind: 'PAID', order };
      if (idem) done.push({ userId: idem.userId, key: idem.key, status: 201, body: order });
      for (const l of d.lines) {
        w.stock.set(l.productId, (w.stock.get(l.productId) ?? 0) + l.quantity);
        w.items.o.push(orderId);
        w.items.p.push(l.productId);
        w.items.q.push(l.quantity);
        w.items.pr.push(l.unitPrice);
      }
      if (draft.userCouponId) w.coupons.push(draft.userCouponId);
      w.orders.id.push(orderId);
      w.orders.u.push(draft.userId);
      w.orders.s.push(d.subtotal);
      w.orders.d.push(d.discount);
      w.orders.t.push(d.total);
      w.orders.c.push(draft.userCouponId);
      w.orders.b.push(d.balanceAfter);
      if (d.total > 0) {
        w.ledger.u.push(draft.userId);
        w.ledger.a.push(-d.total);
        w.ledger.b.push(d.balanceAfter);
        w.ledger.r.push(`order:${orderId}`);
      }
      w.events.u.push(draft.userId);
      w.events.p.push(
        JSON.stringify({
          orderId,
          userId: draft.userId,
          paidAt: order.createdAt,
          total: d.total,
          items: d.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
        }),
      );
    });

    if (accepted.length > 0) {
      // Final balance per user (the last accepted order of a user carries it).
      const finalBalance = new Map<string, number>();
      for (const [k, u] of w.ledger.u.entries()) finalBalance.set(u, w.ledger.b[k]);
      const wantWallets = finalBalance.size;
      const { rows } = await client.query<Record<string, number>>(APPLY_SQL, [
        [...w.stock.keys()],
        [...w.stock.values()],
        w.coupons,
        [...finalBalance.keys()],
        [...finalBalance.values()],
        w.orders.id,
        w.orders.u,
        w.orders.s,
        w.orders.d,
        w.orders.t,
        w.orders.c,
        w.orders.b,
        w.items.o,
        w.items.p,
        w.items.q,
        w.items.pr,
        w.ledger.u,
        w.ledger.a,
        w.ledger.b,
        w.ledger.r,
        w.events.u,
        w.events.p,
        paidAt,
      ]);
      const c = rows[0];
      // Everything decided under lock must have been written exactly; anything else rolls back.
      if (
        c.stock !== w.stock.size ||
        c.coupons !== w.coupons.length ||
        c.wallets !== wantWallets ||
        c.orders !== accepted.length ||
        c.items !== w.items.o.length
      ) {
        throw new Error(`order batch wrote unexpected row counts: ${JSON.stringify(c)}`);
      }
    }
    await this.idem.releaseMany(client, released);
    await this.idem.completeMany(client, done);
  }

  /** The order if it belongs to the user; null otherwise (never tells whose it is). */
  async get(orderId: string, userId: string): Promise<OrderView | null> {
    const { rows } = await this.pool.query<OrderRow>(
      `SELECT id::text AS id, subtotal::float8 AS subtotal, discount::float8 AS discount, total::float8 AS total,
              balance_after::float8 AS "balanceAfter", user_coupon_id::text AS "userCouponId", paid_at AS "paidAt"
       FROM orders WHERE id = $1 AND user_id = $2`,
      [orderId, userId],
    );
    if (rows.length === 0) return null;
    return (await this.withItems(rows))[0];
  }

  /** The user's orders, newest first, ids below `beforeId`; limit+1 rows. */
  async listForUser(
    userId: string,
    beforeId: string | null,
    limit: number,
  ): Promise<(OrderView & { id: string })[]> {
    const { rows } = await this.pool.query<OrderRow>(
      `SELECT id::text AS id, subtotal::float8 AS subtotal, discount::float8 AS discount, total::float8 AS total,
              balance_after::float8 AS "balanceAfter", user_coupon_id::text AS "userCouponId", paid_at AS "paidAt"
       FROM orders WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY orders.id DESC LIMIT $3`,
      [userId, beforeId, limit + 1],
    );
    return this.withItems(rows);
  }

  private async withItems(orders: OrderRow[]): Promise<(OrderView & { id: string })[]> {
    if (orders.length === 0) return [];
    const { rows } = await this.pool.query<ItemRow>(
      `SELECT i.order_id::text AS "orderId", i.product_id::text AS "productId", p.name, i.quantity,
              i.unit_price::float8 AS "unitPrice"
       FROM order_items i JOIN products p ON p.id = i.product_id
       WHERE i.order_id = ANY($1::bigint[]) ORDER BY i.order_id, i.product_id`,
      [orders.map((o) => o.id)],
    );
    const items = new Map<string, OrderItemView[]>();
    for (const r of rows) {
      const list = items.get(r.orderId) ?? [];
      list.push({
        productId: r.productId,
        name: r.name,
        quantity: r.quantity,
        unitPrice: r.unitPrice,
        lineTotal: r.unitPrice * r.quantity,
      });
      items.set(r.orderId, list);
    }
    return orders.map((o) => ({
      id: o.id,
      orderId: o.id,
      status: 'PAID' as const,
      items: items.get(o.id) ?? [],
      subtotal: o.subtotal,
      discount: o.discount,
      total: o.total,
      balanceAfter: o.balanceAfter,
      ...(o.userCouponId ? { userCouponId: o.userCouponId } : {}),
      createdAt: o.paidAt.toISOString(),
    }));
  }
}
