/** Notifications SQL: the unique key on event_id makes an insert of a redelivered event a no-op. */
import type { Pool } from '../../infra/postgres/pool.js';

export interface NewNotification {
  eventId: string;
  userId: string;
  kind: string;
  message: string;
}

export interface NotificationRow {
  id: string;
  eventId: string;
  kind: string;
  message: string;
  createdAt: Date;
}

export class NotificationsRepository {
  constructor(private readonly pool: Pool) {}

  /** Inserts notifications; one per event id at most (redeliveries are dropped). Returns how many were new. */
  async insert(rows: NewNotification[]): Promise<number> {
    if (rows.length === 0) return 0;
    const res = await this.pool.query(
      `INSERT INTO notifications (event_id, user_id, kind, message)
       SELECT e, u, k, m FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS t(e, u, k, m)
       ON CONFLICT (event_id) DO NOTHING`,
      [
        rows.map((r) => r.eventId),
        rows.map((r) => r.userId),
        rows.map((r) => r.kind),
        rows.map((r) => r.message),
      ],
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
