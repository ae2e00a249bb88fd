/**
 * Outbox SQL. Rows are written by the orders and coupons repositories inside their transactions;
 * here they are claimed for delivery with FOR UPDATE SKIP LOCKED, so relays in several processes
 * never deliver the same event at the same time, and a relay that dies (even kill -9) releases its
 * claim with its connection: the events are claimed again by the next pass of any relay.
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';
import type { OutboxEvent, Topic } from './events.js';

interface Row {
  id: string;
  topic: Topic;
  userId: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  traceparent: string | null;
  attempts: number;
}

export type ClaimedEvent = OutboxEvent & { attempts: number };

const WEBHOOK_OFF = 'not delivered: DATA_PLATFORM_URL is not set';

const COLUMNS = `id::text AS id, topic, user_id::text AS "userId", payload, created_at AS "createdAt",
  traceparent, webhook_attempts AS attempts`;

export class OutboxRepository {
  constructor(private readonly pool: Pool) {}

  /** Oldest events not yet handed to the local consumers, locked until the caller's commit. */
  async claimLocal(client: PoolClient, limit: number): Promise<ClaimedEvent[]> {
    const { rows } = await client.query<Row>(
      `SELECT ${COLUMNS} FROM outbox WHERE local_done_at IS NULL ORDER BY outbox.id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows;
  }

  /**
   * Marks events delivered to the local consumers. Without a webhook (`webhookOff`) the same update
   * marks them as not for webhook delivery, sparing each event a second row version.
   */
  async markLocal(client: PoolClient, ids: string[], webhookOff = false): Promise<void> {
    await client.query(
      webhookOff
        ? `UPDATE outbox SET local_done_at = now(), webhook_done_at = COALESCE(webhook_done_at, now()),
             webhook_last_error = COALESCE(webhook_last_error, $2) WHERE id = ANY($1::bigint[])`
        : 'UPDATE outbox SET local_done_at = now() WHERE id = ANY($1::bigint[])',
      webhookOff ? [ids, WEBHOOK_OFF] : [ids],
    );
  }

  /** Events due for a webhook attempt, locked until the caller's commit. */
  async claimWebhook(client: PoolClient, limit: number): Promise<ClaimedEvent[]> {
    const { rows } = await client.query<Row>(
      `SELECT ${COLUMNS} FROM outbox WHERE webhook_done_at IS NULL AND webhook_next_at <= now()
       ORDER BY webhook_next_at, outbox.id LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows;
  }

  async markWebhookDelivered(client: PoolClient, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await client.query(
      `UPDATE outbox SET webhook_done_at = now(), webhook_attempts = webhook_attempts + 1, webhook_last_error = NULL
       WHERE id = ANY($1::bigint[])`,
      [ids],
    );
  }

  /** Records failed attempts; each event is retried after its own delay (ms). */
  async markWebhookFailed(
    client: PoolClient,
    failed: { id: string; delayMs: number; error: string }[],
  ): Promise<void> {
    if (failed.length === 0) return;
    await client.query(
      `UPDATE outbox o SET webhook_attempts = o.webhook_attempts + 1,
              webhook_next_at = now() + make_interval(secs => t.d / 1000.0), webhook_last_error = t.e
       FROM unnest($1::bigint[], $2::int[], $3::text[]) AS t(id, d, e) WHERE o.id = t.id`,
      [
        failed.map((f) => f.id),
        failed.map((f) => Math.round(f.delayMs)),
        failed.map((f) => f.error.slice(0, 500)),
      ],
    );
  }

  /** Without a webhook URL, events are marked as not for delivery (a chunk at a time). */
  async skipWebhook(limit: number): Promise<number> {
    const res = await this.pool.query(
      `UPDATE outbox SET webhook_done_at = now(), webhook_last_error = $2
       WHERE id IN (SELECT id FROM outbox WHERE webhook_done_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)`,
      [limit, WEBHOOK_OFF],
    );
    return res.rowCount ?? 0;
  }

  /** Age in seconds of the oldest undelivered event per destination (0 when none). */
  async lag(): Promise<{ local: number; webhook: number }> {
    const { rows } = await this.pool.query<{ local: number; webhook: number }>(
      `SELECT COALESCE((SELECT extract(epoch FROM now() - created_at) FROM outbox WHERE local_done_at IS NULL ORDER BY id LIMIT 1), 0)::float8 AS local,
              COALESCE((SELECT extract(epoch FROM now() - min(created_at)) FROM outbox WHERE webhook_done_at IS NULL), 0)::float8 AS webhook`,
    );
    return rows[0];
  }

  /** Deletes events delivered everywhere more than `days` ago. */
  async purgeDelivered(days: number): Promise<number> {
    const res = await this.pool.query(
      `DELETE FROM outbox WHERE local_done_at < now() - make_interval(days => $1)
         AND webhook_done_at < now() - make_interval(days => $1)`,
      [days],
    );
    return res.rowCount ?? 0;
  }
}
