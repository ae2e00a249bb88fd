/**
 * Points wallet: charge (optionally idempotent) and reads. A charge is one short transaction:
 * [claim the Idempotency-Key] → wallet upsert + CHARGE ledger row → [store the response] → commit.
 */
import { appError } from '../../http/errors.js';
import type { Metrics } from '../../infra/metrics.js';
import { type Pool, withTransaction } from '../../infra/postgres/pool.js';
import type { IdempotencyRepository } from '../idempotency/repository.js';
import type { Answer, IdempotencyService } from '../idempotency/service.js';
import { BALANCE_CAP, type PointsRepository } from './repository.js';

export interface ChargeIdempotency {
  key: string;
  requestHash: string;
}

export const CHARGE_ROUTE = '/api/v1/me/points/charge';

export class PointsService {
  constructor(
    private readonly pool: Pool,
    private readonly repo: PointsRepository,
    private readonly idemRepo: IdempotencyRepository,
    private readonly idempotency: IdempotencyService,
    private readonly metrics: Metrics,
  ) {}

  balance(userId: string): Promise<number> {
    return this.repo.balance(userId);
  }

  history(userId: string, beforeId: string | null, limit: number) {
    return this.repo.history(userId, beforeId, limit);
  }

  /** 200 { balance } (stored for the key, when one is given); 409 BALANCE_LIMIT changes nothing. */
  async charge(userId: string, amount: number, idem: ChargeIdempotency | null): Promise<Answer> {
    if (!idem) {
      const balance = await withTransaction(this.pool, (c) => this.chargeIn(c, userId, amount));
      return { status: 200, body: { balance }, replayed: false };
    }
    return this.idempotency.run({ userId, ...idem, route: CHARGE_ROUTE }, () =>
      withTransaction(this.pool, async (c) => {
        const claimed = await this.idemRepo.claimMany(c, [{ userId, ...idem }]);
        if (claimed.size === 0) {
          const record = await this.idemRepo.find(userId, idem.key, c);
          if (record) return { kind: 'taken' as const, record };
          // Claimed by a transaction that then rolled back between our two statements: run again.
          throw appError('IDEMPOTENCY_IN_PROGRESS', 'retry this request', { 'retry-after': '1' });
        }
        const balance = await this.chargeIn(c, userId, amount, `idempotency-key:${idem.key}`);
        const response = { status: 200, body: { balance } };
        await this.idemRepo.completeMany(c, [{ userId, key: idem.key, ...response }]);
        return { kind: 'done' as const, response };
      }),
    );
  }

  private async chargeIn(
    c: Parameters<PointsRepository['charge']>[0],
    userId: string,
    amount: number,
    ref: string | null = null,
  ) {
    const balance = await this.repo.charge(c, userId, amount, ref);
    if (balance === null) {
      this.metrics.pointCharges.inc({ outcome: 'balance_limit' });
      throw appError('BALANCE_LIMIT', `charging ${amount} would take the balance above ${BALANCE_CAP}`);
    }
    this.metrics.pointCharges.inc({ outcome: 'charged' });
    return balance;
  }
}
