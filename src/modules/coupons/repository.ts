/**
 * Coupon SQL. The issue path's truth lives here: `issueBatch` is exact on its own (row lock on the
 * coupon, issued_count checked against quantity, unique key per user), whatever the gate believed.
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';

export interface CouponRow {
  id: string;
  name: string;
  discountType: 'AMOUNT' | 'PERCENT';
  discountValue: number;
  quantity: number;
  issuedCount: number;
  startsAt: Date;
  endsAt: Date | null;
  validDays: number | null;
}

export interface NewCoupon {
  name: string;
  discountType: 'AMOUNT' | 'PERCENT';
  discountValue: number;
  quantity: number;
  startsAt: Date | null;
  endsAt: Date | null;
  validDays: number | null;
}

export interface IssueRequest {
  couponId: string;
  userId: string;
}

export type IssueResult =
  | { outcome: 'ISSUED'; userCouponId: string; issuedAt: Date; expiresAt: Date | null }
  | { outcome: 'DUPLICATE' }
  | { outcome: 'SOLD_OUT' }
  | { outcome: 'NOT_FOUND' };

export interface MyCouponRow {
  userCouponId: string;
  couponId: string;
  name: string;
  discountType: 'AMOUNT' | 'PERCENT';
  discountValue: number;
  status: 'AVAILABLE' | 'USED';
  issuedAt: Date;
  expiresAt: Date | null;
}

const COUPON_COLUMNS = `id::text AS id, name, discount_type AS "discountType", discount_value AS "discountValue",
  quantity, issued_count AS "issuedCount", starts_at AS "startsAt", ends_at AS "endsAt", valid_days AS "validDays"`;

/**
 * One coupon's share of a batch, after its row lock is held: requests already holding the coupon
 * are duplicates, the first `cap` fresh ones (arrival order) get a row, the rest are sold out.
 * Runs as its own statement after the lock so its snapshot sees every committed row.
 */
const ISSUE_SQL = `
WITH req AS (
  SELECT r.user_id, r.ord FROM unnest($2::bigint[]) WITH ORDINALITY AS r(user_id, ord)
), fresh AS (
  SELECT DISTINCT ON (req.user_id) req.user_id, req.ord FROM req
  WHERE NOT EXISTS (SELECT 1 FROM user_coupons uc WHERE uc.coupon_id = $1 AND uc.user_id = req.user_id)
  ORDER BY req.user_id, req.ord
), chosen AS (
  SELECT user_id, ord FROM fresh ORDER BY ord LIMIT $3
), ins AS (
  INSERT INTO user_coupons (coupon_id, user_id, expires_at)
  SELECT $1, user_id, CASE WHEN $4::int IS NULL THEN NULL ELSE now() + make_interval(days => $4::int) END
  FROM chosen ORDER BY ord
  ON CONFLICT ON CONSTRAINT user_coupons_one_per_user DO NOTHING
  RETURNING id, user_id, issued_at, expires_at
), upd AS (
  UPDATE coupons SET issued_count = issued_count + (SELECT count(*) FROM ins) WHERE id = $1
)
SELECT req.ord, ins.id::text AS id, ins.issued_at, ins.expires_at, (fresh.user_id IS NULL) AS dup
FROM req
LEFT JOIN fresh ON fresh.user_id = req.user_id AND fresh.ord = req.ord
LEFT JOIN ins ON ins.user_id = fresh.user_id
ORDER BY req.ord`;

export class CouponsRepository {
  constructor(private readonly pool: Pool) {}

  async create(c: NewCoupon): Promise<CouponRow> {
    const { rows } = await this.pool.query<CouponRow>(
      `INSERT INTO coupons (name, discount_type, discount_value, quantity, starts_at, ends_at, valid_days)
       VALUES ($1, $2, $3, $4, COALESCE($5, now()), $6, $7) RETURNING ${COUPON_COLUMNS}`,
      [c.name, c.discountType, c.discountValue, c.quantity, c.startsAt, c.endsAt, c.validDays],
    );
    return rows[0];
  }

  async get(id: string): Promise<CouponRow | null> {
    const { rows } = await this.pool.query<CouponRow>(`SELECT ${COUPON_COLUMNS} FROM coupons WHERE id = $1`, [
      id,
    ]);
    return rows[0] ?? null;
  }

  /** Everyone holding the coupon and what is left, read in one snapshot (REPEATABLE READ). */
  async snapshot(couponId: string): Promise<{ remaining: number; holders: string[] } | null> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const c = await client.query<{ remaining: number }>(
        'SELECT quantity - issued_count AS remaining FROM coupons WHERE id = $1',
        [couponId],
      );
      if (c.rows.length === 0) {
        await client.query('COMMIT');
        return null;
      }
      const h = await client.query<{ user_id: string }>(
        'SELECT user_id::text AS user_id FROM user_coupons WHERE coupon_id = $1',
        [couponId],
      );
      await client.query('COMMIT');
      return { remaining: c.rows[0].remaining, holders: h.rows.map((r) => r.user_id) };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * The group-commit executor: one transaction for the whole batch. Coupons are locked in id order
   * so concurrent batches (other processes) cannot deadlock.
   */
  async issueBatch(items: IssueRequest[]): Promise<IssueResult[]> {
    const byCoupon = new Map<string, number[]>();
    items.forEach((it, i) => {
      const list = byCoupon.get(it.couponId);
      if (list) list.push(i);
      else byCoupon.set(it.couponId, [i]);
    });
    const couponIds = [...byCoupon.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const results = new Array<IssueResult>(items.length);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const couponId of couponIds) {
        const idx = byCoupon.get(couponId)!;
        await this.issueForCoupon(client, couponId, idx, items, results);
      }
      // Outbox (issue 3): one coupon.issued event per ISSUED result, in this same transaction, set-based.
      const issuedIds = results.flatMap((r) => (r?.outcome === 'ISSUED' ? [r.userCouponId] : []));
      if (issuedIds.length > 0) {
        await client.query(
          `INSERT INTO outbox (topic, user_id, payload)
           SELECT 'coupon.issued', uc.user_id,
                  jsonb_build_object('userCouponId', uc.id::text, 'couponId', uc.coupon_id::text, 'userId', uc.user_id::text,
                                     'issuedAt', uc.issued_at, 'expiresAt', uc.expires_at)
           FROM user_coupons uc WHERE uc.id = ANY($1::bigint[]) ORDER BY uc.id`,
          [issuedIds],
        );
      }
      await client.query('COMMIT');
      return results;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  private async issueForCoupon(
    client: PoolClient,
    couponId: string,
    idx: number[],
    items: IssueRequest[],
    results: IssueResult[],
  ): Promise<void> {
    const lock = await client.query<{ cap: number; validDays: number | null }>(
      'SELECT quantity - issued_count AS cap, valid_days AS "validDays" FROM coupons WHERE id = $1 FOR UPDATE',
      [couponId],
    );
    if (lock.rows.length === 0) {
      for (const i of idx) results[i] = { outcome: 'NOT_FOUND' };
      return;
    }
    const { cap, validDays } = lock.rows[0];
    const users = idx.map((i) => items[i].userId);
    const { rows } = await client.query<{
      ord: string;
      id: string | null;
      issued_at: Date;
      expires_at: Date | null;
      dup: boolean;
    }>(ISSUE_SQL, [couponId, users, cap, validDays]);
    for (const row of rows) {
      const i = idx[Number(row.ord) - 1];
      if (row.id !== null) {
        results[i] = {
          outcome: 'ISSUED',
          userCouponId: row.id,
          issuedAt: row.issued_at,
          expiresAt: row.expires_at,
        };
      } else {
        results[i] = row.dup ? { outcome: 'DUPLICATE' } : { outcome: 'SOLD_OUT' };
      }
    }
  }

  /** Which of these users hold the coupon in PostgreSQL (reconciler). */
  async holders(couponId: string, userIds: string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ user_id: string }>(
      'SELECT user_id::text AS user_id FROM user_coupons WHERE coupon_id = $1 AND user_id = ANY($2::bigint[])',
      [couponId, userIds],
    );
    return new Set(rows.map((r) => r.user_id));
  }

  /** Coupons whose gate may hold reservations: not ended more than a day ago. */
  async activeIds(): Promise<{ id: string; remaining: number }[]> {
    const { rows } = await this.pool.query<{ id: string; remaining: number }>(
      `SELECT id::text AS id, quantity - issued_count AS remaining FROM coupons
       WHERE ends_at IS NULL OR ends_at > now() - interval '1 day' ORDER BY id`,
    );
    return rows;
  }

  async listForUser(userId: string): Promise<MyCouponRow[]> {
    const { rows } = await this.pool.query<MyCouponRow>(
      `SELECT uc.id::text AS "userCouponId", c.id::text AS "couponId", c.name,
              c.discount_type AS "discountType", c.discount_value AS "discountValue",
              uc.status, uc.issued_at AS "issuedAt", uc.expires_at AS "expiresAt"
       FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id
       WHERE uc.user_id = $1 ORDER BY uc.id DESC LIMIT 1000`,
      [userId],
    );
    return rows;
  }
}
