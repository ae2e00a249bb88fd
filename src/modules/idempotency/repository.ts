/**
 * Idempotency-Key rows. `claim*` runs INSIDE the transaction of the effect: the (user_id, key)
 * primary key is what guarantees that two requests with one key never both take effect. A second
 * claimer blocks on the first's uncommitted row; when the first commits, the claim is refused and
 * the stored response is read; when it rolls back, the second claims the key and runs.
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';

export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface KeyRecord {
  requestHash: string;
  /** Null only while the claiming transaction is uncommitted (never visible to other sessions). */
  response: StoredResponse | null;
}

export interface KeyRef {
  userId: string;
  key: string;
}

export interface KeyClaim extends KeyRef {
  requestHash: string;
}

type Queryable = Pool | PoolClient;

interface Row {
  user_id: string;
  key: string;
  request_hash: string;
  response_status: number | null;
  response_body: unknown;
}

const toRecord = (r: Row): KeyRecord => ({
  requestHash: r.request_hash,
  response: r.response_status === null ? null : { status: r.response_status, body: r.response_body },
});

export const refId = (r: KeyRef) => `${r.userId}\n${r.key}`;

export class IdempotencyRepository {
  constructor(private readonly pool: Pool) {}

  async find(userId: string, key: string, db: Queryable = this.pool): Promise<KeyRecord | null> {
    const { rows } = await db.query<Row>(
      `SELECT user_id::text, key, request_hash, response_status, response_body
       FROM idempotency_keys WHERE user_id = $1 AND key = $2`,
      [userId, key],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  /**
   * Claims keys in one statement, in (user_id, key) order so concurrent claimers lock in one order.
   * Returns the refIds of the keys this transaction now holds; the others were committed by
   * someone else (read them with findMany).
   */
  async claimMany(client: PoolClient, claims: KeyClaim[]): Promise<Set<string>> {
    if (claims.length === 0) return new Set();
    const { rows } = await client.query<{ user_id: string; key: string }>(
      `INSERT INTO idempotency_keys (user_id, key, request_hash)
       SELECT u, k, h FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(u, k, h) ORDER BY u, k
       ON CONFLICT (user_id, key) DO NOTHING
       RETURNING user_id::text, key`,
      [claims.map((c) => c.userId), claims.map((c) => c.key), claims.map((c) => c.requestHash)],
    );
    return new Set(rows.map((r) => refId({ userId: r.user_id, key: r.key })));
  }

  async findMany(db: Queryable, refs: KeyRef[]): Promise<Map<string, KeyRecord>> {
    if (refs.length === 0) return new Map();
    const { rows } = await db.query<Row>(
      `SELECT i.user_id::text, i.key, i.request_hash, i.response_status, i.response_body
       FROM idempotency_keys i JOIN unnest($1::bigint[], $2::text[]) AS t(u, k) ON i.user_id = t.u AND i.key = t.k`,
      [refs.map((r) => r.userId), refs.map((r) => r.key)],
    );
    return new Map(rows.map((r) => [refId({ userId: r.user_id, key: r.key }), toRecord(r)]));
  }

  /** Stores the responses of claimed keys, in the same transaction as their effect. */
  async completeMany(client: PoolClient, done: (KeyRef & StoredResponse)[]): Promise<void> {
    if (done.length === 0) return;
    await client.query(
      `UPDATE idempotency_keys i SET response_status = t.s, response_body = t.b
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::jsonb[]) AS t(u, k, s, b)
       WHERE i.user_id = t.u AND i.key = t.k`,
      [
        done.map((d) => d.userId),
        done.map((d) => d.key),
        done.map((d) => d.status),
        done.map((d) => JSON.stringify(d.body)),
      ],
    );
  }

  /** Releases claims whose request failed inside a transaction that otherwise commits. */
  async releaseMany(client: PoolClient, refs: KeyRef[]): Promise<void> {
    if (refs.length === 0) return;
    await client.query(
      `DELETE FROM idempotency_keys i USING unnest($1::bigint[], $2::text[]) AS t(u, k)
       WHERE i.user_id = t.u AND i.key = t.k`,
      [refs.map((r) => r.userId), refs.map((r) => r.key)],
    );
  }

  /** Deletes keys older than `hours` (≥ 24: keys are kept at least a day). */
  async purgeOlderThan(hours: number): Promise<number> {
    const res = await this.pool.query(
      'DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)',
      [Math.max(24, hours)],
    );
    return res.rowCount ?? 0;
  }
}
