/**
 * FCFS issuance. The hot path (DESIGN.md): validate → gate reserve (one atomic step) → group commit
 * (exact in PostgreSQL) → settle the gate → answer. A 201 is sent only after the row is committed.
 *
 * When the gate is unusable (Redis unreachable: the breaker is open, or a call fails) the request
 * goes straight to the group commit, which is exact by itself: slower under a spike, never wrong.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { FastifyBaseLogger } from 'fastify';
import { appError } from '../../http/errors.js';
import type { KeyedGroupCommitter } from '../../infra/group-committer.js';
import type { Metrics } from '../../infra/metrics.js';
import type { CouponGate, SettleOutcome } from './gate.js';
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

export class CouponsService {
  readonly breaker = circuitBreaker(handleAll, {
    halfOpenAfter: 2_000,
    breaker: new ConsecutiveBreaker(3),
  });
  private readonly meta = new Map<string, { row: CouponRow | null; at: number }>();
  private readonly remainingCache = new Map<string, { row: CouponRow; at: number }>();
  private readonly loading = new Map<string, Promise<void>>();

  constructor(
    private readonly repo: CouponsRepository,
    private readonly gate: CouponGate,
    private readonly committer: KeyedGroupCommitter<IssueRequest, IssueResult>,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {
    const state = (s: CircuitState) => (s === CircuitState.Closed ? 0 : s === CircuitState.HalfOpen ? 1 : 2);
    metrics.breakerState.set({ breaker: 'gate' }, 0);
    this.breaker.onStateChange((s) => {
      metrics.breakerState.set({ breaker: 'gate' }, state(s));
      log.warn({ breaker: 'gate', state: CircuitState[s] }, 'gate circuit breaker changed state');
    });
  }

  get gateKind() {
    return this.gate.kind;
  }

  get breakerOpen(): boolean {
    return this.breaker.state === CircuitState.Open || this.breaker.state === CircuitState.Isolated;
  }

  async create(input: NewCoupon): Promise<CouponRow> {
    const row = await this.repo.create(input);
    this.meta.set(row.id, { row, at: Date.now() });
    await this.guarded('load', () => this.gate.load(row.id, { remaining: row.quantity, holders: [] })).catch(
      () => {}, // the gate is rebuilt on first use
    );
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

  /** Gate calls go through the breaker; a failure counts and surfaces as a rejection. */
  private guarded<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return this.breaker.execute(fn).catch((err: unknown) => {
      if (!(err instanceof BrokenCircuitError)) this.metrics.gateErrors.inc({ gate: this.gate.kind, op });
      throw err;
    });
  }

  /** Rebuilds the gate's state for a coupon from PostgreSQL; one rebuild at a time per coupon. */
  private ensureLoaded(couponId: string): Promise<void> {
    let p = this.loading.get(couponId);
    if (!p) {
      p = (async () => {
        const snap = await this.repo.snapshot(couponId);
        if (!snap) return;
        await this.guarded('load', () => this.gate.load(couponId, snap));
        this.metrics.gateRebuilds.inc();
        this.log.info(
          { couponId, remaining: snap.remaining, holders: snap.holders.length },
          'gate rebuilt from PostgreSQL',
        );
      })().finally(() => this.loading.delete(couponId));
      this.loading.set(couponId, p);
    }
    return p;
  }

  async issue(couponId: string, userId: string): Promise<Issued> {
    const coupon = await this.metadata(couponId);
    const now = Date.now();
    if (now < coupon.startsAt.getTime() || (coupon.endsAt && now >= coupon.endsAt.getTime())) {
      this.count(couponId, 'not_open');
      throw appError(
        'NOT_OPEN',
        `coupon ${couponId} is open from ${coupon.startsAt.toISOString()}${coupon.endsAt ? ` to ${coupon.endsAt.toISOString()}` : ''}`,
      );
    }

    let reserved = false;
    try {
      let outcome = await this.guarded('reserve', () => this.gate.reserve(couponId, userId, now));
      if (outcome === 'NOT_LOADED') {
        await this.ensureLoaded(couponId);
        outcome = await this.guarded('reserve', () => this.gate.reserve(couponId, userId, Date.now()));
      }
      if (outcome === 'ALREADY_ISSUED') return this.reject(couponId, 'DUPLICATE');
      if (outcome === 'SOLD_OUT') return this.reject(couponId, 'SOLD_OUT');
      if (outcome === 'RESERVED') reserved = true;
      else this.metrics.gateFallbacks.inc({ reason: 'not_loaded' });
    } catch (err) {
      if (!(err instanceof Error) || 'status' in err) throw err; // business answers pass through
      this.metrics.gateFallbacks.inc({
        reason: err instanceof BrokenCircuitError ? 'breaker_open' : 'gate_error',
      });
    }

    let result: IssueResult;
    try {
      result = await this.committer.submit(couponId, { couponId, userId });
    } catch (err) {
      if (reserved) this.settle(couponId, userId, 'FAILED');
      this.count(couponId, 'unavailable');
      this.log.warn({ err, couponId }, 'issue could not be committed; reservation given back');
      throw appError('UNAVAILABLE', 'the coupon could not be made durable; nothing was issued, try again', {
        'retry-after': '1',
      });
    }
    if (reserved) this.settle(couponId, userId, result.outcome === 'NOT_FOUND' ? 'FAILED' : result.outcome);
    if (result.outcome !== 'ISSUED') {
      if (result.outcome === 'NOT_FOUND') throw appError('NOT_FOUND', `no coupon ${couponId}`);
      return this.reject(couponId, result.outcome);
    }
    this.count(couponId, 'issued');
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

  /** Fire-and-forget: the answer does not wait for it; a lost settle is the reconciler's job. */
  private settle(couponId: string, userId: string, outcome: SettleOutcome): void {
    this.guarded('settle', () => this.gate.settle(couponId, userId, outcome)).catch((err) =>
      this.log.debug({ err, couponId }, 'settle failed; the reconciler will settle this reservation'),
    );
  }

  private count(couponId: string, outcome: string): void {
    this.metrics.couponIssue.inc({ coupon_id: couponId, outcome });
  }

  listForUser(userId: string) {
    return this.repo.listForUser(userId);
  }

  /**
   * Reconciler pass (invariant 4): stale pending reservations are checked against PostgreSQL; those
   * with a row are confirmed, those without are given back; then remaining is aligned with
   * PostgreSQL for coupons with nothing in flight.
   */
  async reconcile(staleAfterMs: number): Promise<{ released: number; confirmed: number }> {
    let released = 0;
    let confirmed = 0;
    for (const { id, remaining } of await this.repo.activeIds()) {
      const stale = await this.gate.stalePending(id, Date.now() - staleAfterMs);
      const held = stale.length ? await this.repo.holders(id, stale) : new Set<string>();
      const r = await this.gate.resync(id, {
        remaining,
        committed: stale.filter((u) => held.has(u)),
        uncommitted: stale.filter((u) => !held.has(u)),
      });
      released += r.released;
      confirmed += r.confirmed;
    }
    if (released) this.metrics.reconciled.inc({ result: 'released' }, released);
    if (confirmed) this.metrics.reconciled.inc({ result: 'confirmed' }, confirmed);
    if (released || confirmed)
      this.log.info({ released, confirmed }, 'reconciler settled stale reservations');
    return { released, confirmed };
  }
}
