/** Best-seller SQL: the truth the incremental store must equal, and the replay that rebuilds it. */
import type { Pool } from '../../infra/postgres/pool.js';

export interface PaidOrderRow {
  orderId: string;
  paidAt: Date;
  items: { productId: string; quantity: number }[];
}

export class RankingRepository {
  constructor(private readonly pool: Pool) {}

  /** Units sold per product in paid orders paid at or after `since` (the window's first UTC midnight). */
  async soldSince(since: Date): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ productId: string; sold: number }>(
      `SELECT i.product_id::text AS "productId", sum(i.quantity)::float8 AS sold
       FROM orders o JOIN order_items i ON i.order_id = o.id
       WHERE o.status = 'PAID' AND o.paid_at >= $1
       GROUP BY i.product_id`,
      [since],
    );
    return new Map(rows.map((r) => [r.productId, r.sold]));
  }

  /** Paid orders since `since` with id above `afterId`, in id order (replay, a chunk at a time). */
  async paidOrders(since: Date, afterId: string, limit: number): Promise<PaidOrderRow[]> {
    const { rows } = await this.pool.query<PaidOrderRow>(
      `SELECT o.id::text AS "orderId", o.paid_at AS "paidAt",
              json_agg(json_build_object('productId', i.product_id::text, 'quantity', i.quantity)) AS items
       FROM orders o JOIN order_items i ON i.order_id = o.id
       WHERE o.status = 'PAID' AND o.paid_at >= $1 AND o.id > $2
       GROUP BY o.id ORDER BY o.id LIMIT $3`,
      [since, afterId, limit],
    );
    return rows;
  }
}
