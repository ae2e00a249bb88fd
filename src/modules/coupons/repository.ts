/**
 * Coupon SQL. The issue path's truth lives here: `issueBatch` is exact on its own (row lock on the
 * coupon, issued_count checked against quantity, unique key per user), whatever the gate believed.
 */
import type { Pool } from '../../infra/postgres/pool.js';

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
  /** Issuing needs a pass of this waiting room; null = unprotected. */
  waitingRoomId: string | null;
  /** The rehearsal that created the drop (migrations/006_run_tags.sql); null for a real one. */
  runTag: string | null;
}

export interface NewCoupon {
  name: string;
  discountType: 'AMOUNT' | 'PERCENT';
  discountValue: number;
  quantity: number;
  startsAt: Date | null;
  endsAt: Date | null;
  validDays: number | null;
  waitingRoomId: string | null;
  runTag?: string | null;
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
  quantity, issued_count AS "issuedCount", starts_at AS "startsAt", ends_at AS "endsAt", valid_days AS "validDays",
  waiting_room_id::text AS "waitingRoomId", run_tag AS "runTag"`;

/**
 * issue_coupon_batch's traceparents argument: user id → the traceparent of that user's first request
 * in the share (a repeat is a DUPLICATE and writes no event); null when no request has one.
 */
function traceparentsByUser(
  items: IssueRequest[],
  idx: number[],
  traceparents: readonly (string | null)[],
): string | null {
  if (traceparents.length === 0) return null;
  const map: Record<string, string> = {};
  let any = false;
  for (const i of idx) {
    const tp = traceparents[i];
    if (tp && !(items[i].userId in map)) {
      map[items[i].userId] = tp;
      any = true;
    }
  }
  return any ? JSON.stringify(map) : null;
}

export class CouponsRepository {
  constructor(private readonly pool: Pool) {}

  async create(c: NewCoupon): Promise<CouponRow> {
    const { rows } = await this.pool.query<CouponRow>(
      `INSERT INTO coupons (name, discount_type, discount_value, quantity, starts_at, ends_at, valid_days, waiting_room_id, run_tag)
       VALUES ($1, $2, $3, $4, COALESCE($5, now()), $6, $7, $8, $9) RETURNING ${COUPON_COLUMNS}`,
      [
        c.name,
        c.discountType,
        c.discountValue,
        c.quantity,
        c.startsAt,
        c.endsAt,
        c.validDays,
        c.waitingRoomId,
        c.runTag ?? null,
      ],
    );
    return rows[0];
  }

  async get(id: string): Promise<CouponRow | null> {
    const { rows } = await this.pool.query<CouponRow>(`SELECT ${COUPON_COLUMNS} FROM coupons WHERE id = $1`, [
      id,
    ]);
    return rows[0] ?? null;
  }

  /** Coupons in id order after `afterId`, limit+1 of them (so the caller knows if there is more). */
  async page(afterId: string | null, limit: number): Promise<(CouponRow & { createdAt: Date })[]> {
    const { rows } = await this.pool.query<CouponRow & { createdAt: Date }>(
      `SELECT ${COUPON_COLUMNS}, created_at AS "createdAt" FROM coupons
       WHERE id > $1 ORDER BY coupons.id LIMIT $2`,
      [afterId ?? '0', limit + 1],
    );
    return rows;
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
   * The group-commit executor; one result per item, in order. Each coupon's share of the batch is
   * one call of the PostgreSQL function issue_coupon_batch: one statement, one round trip, its own
   * transaction — the coupon's row lock is held only inside PostgreSQL. Coupons are independent, so
   * their shares run in parallel.
   *
   * This method owns issue_coupon_batch and is its only caller. Its contract (the header of
   * migrations/003_issue_coupon_batch.sql has it in full): given a coupon and its requesting users
   * in arrival order, it returns one ISSUED row per user coupon it created, one DUPLICATE row per
   * requested user who already held the coupon, or a single NOT_FOUND row; a user without a row is
   * SOLD_OUT and a user's repeats within the batch are DUPLICATE, which this method derives from the
   * request order. It is exact on its own: at most quantity − issued_count users issued, first come
   * first served, never two per user, issued_count and one outbox event per issue in the same
   * transaction. To change the function, add a new numbered migration with CREATE OR REPLACE
   * FUNCTION (DROP and CREATE if its arguments or columns change) and change this method in the
   * same commit; never edit migration 003, which existing databases will not run again.
   */
  async issueBatch(
    items: IssueRequest[],
    traceparents: readonly (string | null)[] = [],
  ): Promise<IssueResult[]> {
    const byCoupon = new Map<string, number[]>();
    items.forEach((it, i) => {
      const list = byCoupon.get(it.couponId);
      if (list) list.push(i);
      else byCoupon.set(it.couponId, [i]);
    });
    const results = new Array<IssueResult>(items.length);
    await Promise.all(
      [...byCoupon].map(async ([couponId, idx]) => {
        const { rows } = await this.pool.query<{
          user_id: string | null;
          user_coupon_id: string | null;
          issued_at: Date | null;
          expires_at: Date | null;
          outcome: 'ISSUED' | 'DUPLICATE' | 'NOT_FOUND';
        }>(
          `SELECT user_id::text AS user_id, user_coupon_id::text AS user_coupon_id, issued_at, expires_at, outcome
           FROM issue_coupon_batch($1, $2::bigint[], $3::jsonb)`,
          [couponId, idx.map((i) => items[i].userId), traceparentsByUser(items, idx, traceparents)],
        );
        if (rows[0]?.outcome === 'NOT_FOUND') {
          for (const i of idx) results[i] = { outcome: 'NOT_FOUND' };
          return;
        }
        const byUser = new Map(rows.map((r) => [r.user_id!, r]));
        const seen = new Set<string>();
        for (const i of idx) {
          const user = items[i].userId;
          const row = byUser.get(user);
          if (seen.has(user))
            results[i] = { outcome: 'DUPLICATE' }; // a repeat within this batch
          else if (row?.outcome === 'ISSUED') {
            results[i] = {
              outcome: 'ISSUED',
              userCouponId: row.user_coupon_id!,
              issuedAt: row.issued_at!,
              expiresAt: row.expires_at,
            };
          } else results[i] = row ? { outcome: 'DUPLICATE' } : { outcome: 'SOLD_OUT' };
          seen.add(user);
        }
      }),
    );
    return results;
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
