/**
 * The notifications module: one notification per delivered event for the event's user. Delivery is
 * at least once, so `record` is idempotent: the unique key on event_id drops redeliveries.
 */
import type { Pool } from '../../infra/postgres/pool.js';
import type { OutboxEvent } from '../outbox/events.js';

export interface NotificationRow {
  id: string;
  eventId: string;
  kind: string;
  message: string;
  createdAt: Date;
}

function describe(e: OutboxEvent): { kind: string; message: string } {
  const p = e.payload;
  if (e.topic === 'order.paid') {
    return { kind: 'ORDER_PAID', message: `Order ${String(p.orderId)} is paid: ${String(p.total)} points.` };
  }
  return {
    kind: 'COUPON_ISSUED',
    message: `Coupon ${String(p.couponId)} is yours (user coupon ${String(p.userCouponId)}).`,
  };
}

export class NotificationsRepository {
  constructor(private readonly pool: Pool) {}

  /** Records one notification per event; returns how many were new (the rest were redeliveries). */
  async record(events: OutboxEvent[]): Promise<number> {
    if (events.length === 0) return 0;
    const d = events.map(describe);
    const res = await this.pool.query(
      `INSERT INTO notifications (event_id, user_id, kind, message)
       SELECT e, u, k, m FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS t(e, u, k, m)
       ON CONFLICT (event_id) DO NOTHING`,
      [events.map((e) => e.id), events.map((e) => e.userId), d.map((x) => x.kind), d.map((x) => x.message)],
    );
    return res.rowCount ?? 0;
  }

  /** Newest first, ids below `beforeId`; limit+1 rows. */
  async listForUser(userId: string, beforeId: string | null, limit: number): Promise<NotificationRow[]> {
    const { rows } = await this.pool.query<NotificationRow>(
      `SELECT id::text AS id, event_id::text AS "eventId", kind, message, created_at AS "createdAt"
       FROM notifications WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY notifications.id DESC LIMIT $3`,
      [userId, beforeId, limit + 1],
    );
    return rows;
  }
}
