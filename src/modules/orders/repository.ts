/**
 * Orders SQL. `placeBatch` is the group-commit executor: ONE transaction places a whole batch of
 * orders, each taken entirely (stock, coupon, points, order rows, ledger row, outbox event,
 * idempotency response) or not at all. In that transaction:
 *   1. claim the batch's Idempotency-Keys (`claimKeys`);
 *   2. lock every product, user coupon and wallet the batch can touch (`lockRows`);
 *   3. decide each order against what the previous ones left (`decideBatch`, pure, allocate.ts);
 *   4. turn the accepted decisions into a write-set (`buildWriteSet`, pure, write-set.ts) and write
 *      it in ONE statement whose reported row counts must match it exactly (`apply`);
 *   5. release the keys of refused orders and store the 201 bodies of placed ones.
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
import {
  APPLY_SQL,
  type AppliedCounts,
  applyParams,
  buildWriteSet,
  expectedCounts,
  type OrderWriteSet,
  type PlacedOrder,
  placeAccepted,
} from './write-set.js';

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

/** The 201 body of a placed order. */
function orderView({ orderId, draft, decision: d }: PlacedOrder, paidAt: Date): OrderView {
  return {
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
}

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
  async placeBatch(
    reqs: PlaceRequest[],
    traceparents: readonly (string | null)[] = [],
  ): Promise<PlaceResult[]> {
    const results = new Array<PlaceResult | undefined>(reqs.length);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const active = await this.claimKeys(client, reqs, results);
      if (active.length > 0) await this.placeActive(client, reqs, active, results, traceparents);
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

  /**
   * Places the requests at `active` (their keys, if any, are claimed): lock → decide → write.
   * Sets `results` for each of them; throws (and the caller rolls back) if the write is not exact.
   */
  private async placeActive(
    client: PoolClient,
    reqs: PlaceRequest[],
    active: number[],
    results: (PlaceResult | undefined)[],
    traceparents: readonly (string | null)[],
  ): Promise<void> {
    const drafts = active.map((i) => reqs[i].draft);
    const locked = await this.lockRows(client, drafts);
    // The time of the decisions (coupon expiry) and of every row written: once all locks are held.
    const paidAt = new Date();
    const decisions = decideBatch(drafts, { ...locked, nowMs: paidAt.getTime() });
    const orderIds = await this.nextOrderIds(client, decisions.filter((d) => d.ok).length);
    const placed = placeAccepted(drafts, decisions, orderIds);
    if (placed.length > 0) {
      await this.apply(
        client,
        buildWriteSet(placed, paidAt, (k) => traceparents[active[k]] ?? null),
      );
    }

    const released: KeyClaim[] = [];
    decisions.forEach((d, k) => {
      if (d.ok) return;
      const { idem } = reqs[active[k]];
      results[active[k]] = { kind: 'REJECTED', code: d.code, detail: d.detail };
      if (idem) released.push(idem);
    });
    const done: { userId: string; key: string; status: number; body: unknown }[] = [];
    for (const p of placed) {
      const { idem } = reqs[active[p.index]];
      const order = orderView(p, paidAt);
      results[active[p.index]] = { kind: 'PAID', order };
      if (idem) done.push({ userId: idem.userId, key: idem.key, status: 201, body: order });
    }
    await this.idem.releaseMany(client, released);
    await this.idem.completeMany(client, done);
  }

  /**
   * Locks every row the drafts can touch, in the global order (see the module comment): products,
   * then user coupons, then wallets, each ascending (ORDER BY under FOR UPDATE locks in that order).
   * Returns copies of them: the state the decisions start from (and mutate).
   */
  private async lockRows(client: PoolClient, drafts: OrderDraft[]): Promise<Omit<BatchState, 'nowMs'>> {
    const productIds = [...new Set(drafts.flatMap((d) => d.lines.map((l) => l.productId)))].sort(byBigint);
    const couponIds = [...new Set(drafts.flatMap((d) => (d.userCouponId ? [d.userCouponId] : [])))].sort(
      byBigint,
    );
    const userIds = [...new Set(drafts.map((d) => d.userId))].sort(byBigint);

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
    return {
      products: new Map(products.rows.map((p) => [p.id, { ...p }])),
      coupons: new Map(coupons.rows.map((c) => [c.id, { ...c }])),
      balances: new Map(wallets.rows.map((w) => [w.userId, w.balance])),
    };
  }

  /** `n` fresh order ids, ascending (drawn from the orders sequence; no lock). */
  private async nextOrderIds(client: PoolClient, n: number): Promise<string[]> {
    if (n === 0) return [];
    const { rows } = await client.query<{ id: string }>(
      `SELECT nextval(pg_get_serial_sequence('orders', 'id'))::text AS id FROM generate_series(1, $1)`,
      [n],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Writes the write-set in one statement and checks every row count it reports: everything decided
   * under lock must have been written exactly, and anything else throws (the batch rolls back).
   */
  private async apply(client: PoolClient, ws: OrderWriteSet): Promise<void> {
    const { rows } = await client.query<AppliedCounts>(APPLY_SQL, applyParams(ws));
    const got = rows[0];
    const want = expectedCounts(ws);
    const wrong = (Object.keys(want) as (keyof AppliedCounts)[]).filter((k) => got[k] !== want[k]);
    if (wrong.length > 0) {
      throw new Error(
        `order batch wrote unexpected row counts: ${JSON.stringify(got)} (expected ${JSON.stringify(want)})`,
      );
    }
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
