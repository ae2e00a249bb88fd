/** Best-seller SQL: the truth the incremental store must equal, and the replay that rebuilds it. */
import type { Pool } from '../../infra/postgres/pool.js';

export interface PaidOrderRow {
  orderId: string;
  paidAt: Date;
  items: { productId: string; quantity: number }[];
}

/**
 * Rehearsal traffic is left out of the default ranking: a line counts only when its order's user and
 * its product carry no run tag (migrations/006_run_tags.sql). `includeDrill` counts every line.
 */
const COUNTED = 'u.run_tag IS NULL AND p.run_tag IS NULL';

export class RankingRepository {
  constructor(private readonly pool: Pool) {}

  /**
   * Units sold per product in paid orders paid at or after `since` (the window's first UTC
   * midnight); rehearsal lines only with `includeDrill`.
   */
  async soldSince(since: Date, includeDrill = false): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ productId: string; sold: number }>(
      `SELECT i.product_id::text AS "productId", sum(i.quantity)::float8 AS sold
       FROM orders o JOIN order_items i ON i.order_id = o.id
       JOIN users u ON u.id = o.user_id JOIN products p ON p.id = i.product_id
       WHERE o.status = 'PAID' AND o.paid_at >= $1 AND ($2 OR (${COUNTED}))
       GROUP BY i.product_id`,
      [since, includeDrill],
    );
    return new Map(rows.map((r) => [r.productId, r.sold]));
  }

  /**
   * Paid orders since `since` with id above `afterId`, in id order, with their counted lines only
   * (replay, a chunk at a time); an order with no counted line is left out.
   */
  async paidOrders(since: Date, afterId: string, limit: number): Promise<PaidOrderRow[]> {
    const { rows } = await this.pool.query<PaidOrderRow>(
      `SELECT o.id::text AS "orderId", o.paid_at AS "paidAt",
              json_agg(json_build_object('productId', i.product_id::text, 'quantity', i.quantity)) AS items
       FROM orders o JOIN order_items i ON i.order_id = o.id
       JOIN users u ON u.id = o.user_id JOIN products p ON p.id = i.product_id
       WHERE o.status = 'PAID' AND o.paid_at >= $1 AND o.id > $2 AND ${COUNTED}
       GROUP BY o.id ORDER BY o.id LIMIT $3`,
      [since, afterId, limit],
    );
    return rows;
  }

  /**
   * The counted lines of these orders, as PostgreSQL has them: `orderId:productId` → quantity. A
   * line of a tagged user or product is not in it, nor is a line of an order that no longer exists
   * (a rehearsal deleted since its event was written).
   */
  async countedLines(orderIds: string[]): Promise<Map<string, number>> {
    if (orderIds.length === 0) return new Map();
    const { rows } = await this.pool.query<{ line: string; quantity: number }>(
      `SELECT i.order_id::text || ':' || i.product_id::text AS line, i.quantity
       FROM order_items i JOIN orders o ON o.id = i.order_id
       JOIN users u ON u.id = o.user_id JOIN products p ON p.id = i.product_id
       WHERE i.order_id = ANY($1::bigint[]) AND ${COUNTED}`,
      [orderIds],
    );
    return new Map(rows.map((r) => [r.line, r.quantity]));
  }
}
