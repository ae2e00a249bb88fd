/**
 * FCFS issuance on the admission protocol (src/infra/admission): validate → reserve in the gate →
 * group commit (exact in PostgreSQL) → settle → answer. A 201 is sent only after the row is
 * committed. This file says what a coupon is (open window, outcomes, answers); the protocol says
 * how a unit is taken.
 */
import { appError } from '../../http/errors.js';
import { type AdmissionProtocol, CommitFailedError, type UnitKind } from '../../infra/admission/index.js';
import type { Metrics } from '../../infra/metrics.js';
import type { WaitingRoomsService } from '../waiting-rooms/service.js';
import type { CouponRow, CouponsRepository, IssueRequest, IssueResult, NewCoupon } from './repository.js';

const META_TTL_MS = 5_000;
const MISSING_TTL_MS = 1_000;
const REMAINING_TTL_MS = 250;

export interface Issued {
  userCouponId: string;
  couponId: string;
  status: 'ISSUED';
  expiresAt: Date | null;
}

export interface CouponView extends CouponRow {
  remaining: number;
}

/**
 * Coupons as a kind of admission unit: one gate per coupon, a user holds at most one unit, and
 * PostgreSQL's answer settles the reservation (NOT_FOUND: nothing was written, the unit goes back).
 */
export function couponUnits(repo: CouponsRepository): UnitKind<IssueRequest, IssueResult> {
  return {
    unit: 'coupon',
    committer: 'coupon-issue',
    store: {
      commitBatch: (items, traceparents) => repo.issueBatch(items, traceparents),
      snapshot: (couponId) => repo.snapshot(couponId),
      committed: (couponId, userIds) => repo.holders(couponId, userIds),
      activeKeys: async () => (await repo.activeIds()).map(({ id, remaining }) => ({ key: id, remaining })),
    },
    keyOf: (req) => req.couponId,
    claimantOf: (req) => req.userId,
    settleOutcome: (res) => (res.outcome === 'NOT_FOUND' ? 'FAILED' : res.outcome),
  };
}

export class CouponsService {
  private readonly meta = new Map<string, { row: CouponRow | null; at: number }>();
  private readonly remainingCache = new Map<string, { row: CouponRow; at: number }>();

  constructor(
    private readonly repo: CouponsRepository,
    private readonly admission: AdmissionProtocol<IssueRequest, IssueResult>,
    private readonly metrics: Metrics,
    /** Protected drops check their pass here, and end it once the coupon is issued. */
    private readonly rooms: Pick<WaitingRoomsService, 'room' | 'checkPass' | 'complete'> | null = null,
  ) {}

  async create(input: NewCoupon): Promise<CouponRow> {
    if (input.waitingRoomId !== null) {
      if (!this.rooms) throw new Error('coupons were composed without waiting rooms');
      await this.rooms.room(input.waitingRoomId).catch(() => {
        throw appError('VALIDATION_FAILED', `body.waitingRoomId: no waiting room ${input.waitingRoomId}`);
      });
    }
    const row = await this.repo.create(input);
    this.meta.set(row.id, { row, at: Date.now() });
    await this.admission.prime(row.id, { remaining: row.quantity, holders: [] });
    return row;
  }

  /** Coupon with `remaining` from PostgreSQL (quantity - committed rows), at most 250 ms old. */
  async get(couponId: string): Promise<CouponView> {
    const hit = this.remainingCache.get(couponId);
    let row = hit && Date.now() - hit.at < REMAINING_TTL_MS ? hit.row : null;
    if (!row) {
      row = await this.repo.get(couponId);
      if (!row) throw appError('NOT_FOUND', `no coupon ${couponId}`);
      this.remainingCache.set(couponId, { row, at: Date.now() });
    }
    return { ...row, remaining: row.quantity - row.issuedCount };
  }

  private async metadata(couponId: string): Promise<CouponRow> {
    const now = Date.now();
    const hit = this.meta.get(couponId);
    if (hit && now - hit.at < (hit.row ? META_TTL_MS : MISSING_TTL_MS)) {
      if (!hit.row) throw appError('NOT_FOUND', `no coupon ${couponId}`);
      return hit.row;
    }
    const row = await this.repo.get(couponId);
    if (this.meta.size > 100_000) this.meta.clear();
    this.meta.set(couponId, { row, at: now });
    if (!row) throw appError('NOT_FOUND', `no coupon ${couponId}`);
    return row;
  }

  /** `pass` is the X-Waiting-Room-Pass header, needed when the drop is behind a waiting room. */
  async issue(couponId: string, userId: string, pass?: string): Promise<Issued> {
    const coupon = await this.metadata(couponId);
    const now = Date.now();
    if (now < coupon.startsAt.getTime() || (coupon.endsAt && now >= coupon.endsAt.getTime())) {
      this.count(couponId, 'not_open');
      throw appError(
        'NOT_OPEN',
        `coupon ${couponId} is open from ${coupon.startsAt.toISOString()}${coupon.endsAt ? ` to ${coupon.endsAt.toISOString()}` : ''}`,
      );
    }

    if (coupon.waitingRoomId !== null && this.rooms) {
      try {
        await this.rooms.checkPass(coupon.waitingRoomId, userId, pass);
      } catch (err) {
        this.count(couponId, 'not_admitted');
        throw err;
      }
    }

    let result: IssueResult;
    try {
      const admitted = await this.admission.admit({ couponId, userId }, now);
      if (admitted.by === 'gate')
        return this.reject(couponId, admitted.outcome === 'ALREADY_ISSUED' ? 'DUPLICATE' : 'SOLD_OUT');
      result = admitted.result;
    } catch (err) {
      if (!(err instanceof CommitFailedError)) throw err;
      this.count(couponId, 'unavailable');
      throw appError('UNAVAILABLE', 'the coupon could not be made durable; nothing was issued, try again', {
        'retry-after': '1',
      });
    }
    if (result.outcome !== 'ISSUED') {
      if (result.outcome === 'NOT_FOUND') throw appError('NOT_FOUND', `no coupon ${couponId}`);
      return this.reject(couponId, result.outcome);
    }
    this.count(couponId, 'issued');
    if (coupon.waitingRoomId !== null) await this.rooms?.complete(coupon.waitingRoomId, userId);
    return { userCouponId: result.userCouponId, couponId, status: 'ISSUED', expiresAt: result.expiresAt };
  }

  private reject(couponId: string, why: 'DUPLICATE' | 'SOLD_OUT'): never {
    if (why === 'DUPLICATE') {
      this.count(couponId, 'duplicate');
      throw appError('ALREADY_ISSUED', `you already hold coupon ${couponId}`);
    }
    this.count(couponId, 'sold_out');
    throw appError('SOLD_OUT', `coupon ${couponId} is sold out`);
  }

  private count(couponId: string, outcome: string): void {
    this.metrics.couponIssue.inc({ coupon_id: couponId, outcome });
  }

  /** Coupons in id order after `afterId` (limit+1 rows), `remaining` as PostgreSQL has it now. */
  async page(afterId: string | null, limit: number): Promise<(CouponView & { createdAt: Date })[]> {
    const rows = await this.repo.page(afterId, limit);
    return rows.map((r) => ({ ...r, remaining: r.quantity - r.issuedCount }));
  }

  listForUser(userId: string) {
    return this.repo.listForUser(userId);
  }
}
