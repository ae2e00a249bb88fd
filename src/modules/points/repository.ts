/**
 * Points SQL. Invariant: a wallet's balance equals the sum of its ledger rows' amounts, because every
 * statement that changes a balance inserts the matching ledger row in the same statement or
 * transaction (here for CHARGE; the orders repository for USE).
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';

/** The balance may never exceed this (docs/api.md). Also a CHECK on point_wallets. */
export const BALANCE_CAP = 10_000_000;

export interface LedgerRow {
  id: string;
  type: 'CHARGE' | 'USE' | 'REFUND';
  amount: number;
  balanceAfter: number;
  at: Date;
  ref: string | null;
}

/**
 * One statement: upsert the wallet (row-locked by the upsert) unless the cap would be exceeded, and
 * append the CHARGE row with the resulting balance. No row back = the cap refused it.
 */
const CHARGE_SQL = `
WITH w AS (
  INSERT INTO point_wallets AS w (user_id, balance) VALUES ($1, $2)
  ON CONFLICT (user_id) DO UPDATE SET balance = w.balance + EXCLUDED.balance, updated_at = now()
  WHERE w.balance + EXCLUDED.balance <= $3
  RETURNING balance
)
INSERT INTO point_ledger (user_id, type, amount, balance_after, ref)
SELECT $1, 'CHARGE', $2, balance, $4 FROM w
RETURNING balance_after::float8 AS balance`;

export class PointsRepository {
  constructor(private readonly pool: Pool) {}

  async balance(userId: string): Promise<number> {
    const { rows } = await this.pool.query<{ balance: number }>(
      'SELECT balance::float8 AS balance FROM point_wallets WHERE user_id = $1',
      [userId],
    );
    return rows[0]?.balance ?? 0;
  }

  /** The new balance, or null when it would exceed BALANCE_CAP (nothing changed). */
  async charge(
    client: PoolClient,
    userId: string,
    amount: number,
    ref: string | null,
  ): Promise<number | null> {
    const { rows } = await client.query<{ balance: number }>(CHARGE_SQL, [userId, amount, BALANCE_CAP, ref]);
    return rows[0]?.balance ?? null;
  }

  /** Newest first, ids below `beforeId`; limit+1 rows so the caller knows whether more follow. */
  async history(userId: string, beforeId: string | null, limit: number): Promise<LedgerRow[]> {
    const { rows } = await this.pool.query<LedgerRow>(
      `SELECT id::text AS id, type, amount::float8 AS amount, balance_after::float8 AS "balanceAfter",
              created_at AS at, ref
       FROM point_ledger WHERE user_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY point_ledger.id DESC LIMIT $3`,
      [userId, beforeId, limit + 1],
    );
    return rows;
  }
}
