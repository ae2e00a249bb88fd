/**
 * Concert ticketing: schedules with numbered seats, timed holds, payment with points.
 *
 *   hold    validate → (waiting-room pass) → check the seat gate (memory or one Lua script:
 *           refuses seats PostgreSQL has committed as held or sold and users over the limit,
 *           without touching PostgreSQL) → the request joins the schedule's next group commit,
 *           where hold_seats_batch decides exactly in PostgreSQL (all the seats or none, at most 4
 *           live held seats per user and schedule) → settle the gate with what was committed →
 *           201 once committed. With an Idempotency-Key the hold skips the check (a replay must
 *           reach the stored answer) and runs in its own transaction with the key's claim; what
 *           it commits still settles the gate.
 *   pay     one transaction: the hold must be live by PostgreSQL's clock; seats sold, points used
 *           (a USE ledger row naming the reservation), sale and event written together → 200; a
 *           protected concert's waiting-room pass is then ended (DONE).
 *   expiry  decided by `expires_at > now()` wherever it matters; the sweeper only tidies.
 *
 * The gate only saves work: PostgreSQL is exact on its own, so a gate that is lost, stale or
 * unreachable (breaker open: holds go straight to the commit) costs speed, never a seat held or sold
 * twice. Gate entries end GATE_MARGIN_MS before the hold's expiresAt, so the gate never refuses a
 * seat whose hold PostgreSQL already counts as expired; a release it missed (a cancel whose settle
 * was lost) is repaired by the refresh from PostgreSQL every RECONCILE_INTERVAL_MS.
 */
import type { FastifyBaseLogger } from 'fastify';
import { AppError, appError } from '../../http/errors.js';
import { isId } from '../../http/schemas.js';
import type { GateBreaker } from '../../infra/admission/breaker.js';
import type { KeyedGroupCommitter } from '../../infra/group-committer.js';
import type { Locks } from '../../infra/locks.js';
import type { Metrics } from '../../infra/metrics.js';
import { type Pool, withTransaction } from '../../infra/postgres/pool.js';
import { noopTracer, type Tracer } from '../../infra/tracing.js';
import type { IdempotencyRepository } from '../idempotency/repository.js';
import type { Answer, EffectResult, IdempotencyService } from '../idempotency/service.js';
import type { WaitingRoomsService } from '../waiting-rooms/service.js';
import { ReadCache } from './read-cache.js';
import type {
  ConcertRow,
  ConcertsRepository,
  HoldRequest,
  HoldResult,
  NewConcert,
  PayResult,
  ReservationRow,
  ScheduleMeta,
  ScheduleRow,
  SeatStatus,
} from './repository.js';
import type { SeatGate, SeatSettle } from './seat-gate.js';

export const RESERVATIONS_ROUTE = '/api/v1/reservations';
export const PAY_ROUTE = '/api/v1/reservations/:reservationId/pay';

/** At most this many seats per hold, and held at once by one user in one schedule. */
export const MAX_HELD_SEATS = 4;

const META_TTL_MS = 5_000;
const MISSING_TTL_MS = 1_000;
const SWEEP_BATCH = 500;
/** Gate entries of a committed hold end this long before its expiresAt. */
const GATE_MARGIN_MS = 1_000;
/** A schedule whose gate this process used within this long is refreshed from PostgreSQL. */
const ACTIVE_MS = 60_000;

export interface HoldView {
  reservationId: string;
  scheduleId: string;
  seats: number[];
  status: 'HELD';
  total: number;
  expiresAt: string;
}

export interface PaidView {
  reservationId: string;
  status: 'PAID';
  seats: number[];
  total: number;
  balanceAfter: number;
  paidAt: string;
}

export interface SeatMap {
  scheduleId: string;
  items: { number: number; status: SeatStatus; price: number }[];
  /** Strong validator of `items` as served. */
  etag: string;
}

export type ScheduleAvailability = ScheduleRow & { availableSeats: number };

export interface ConcertsOptions {
  holdSeconds: number;
  /** Spans for the seat gate's check and the wait for the hold's commit (default: none). */
  tracer?: Tracer;
  sweepIntervalMs: number;
  /** How often the gates of active schedules are reloaded from PostgreSQL, ms. */
  refreshMs: number;
}

type Rooms = Pick<WaitingRoomsService, 'room' | 'checkPass' | 'complete'>;

export class ConcertsService {
  private readonly meta = new Map<string, { row: ScheduleMeta | null; at: number }>();
  private readonly tracer: Tracer;
  private readonly seatMaps: ReadCache<SeatMap>;
  private readonly scheduleLists: ReadCache<ScheduleAvailability[]>;
  private timer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  private refreshing: Promise<void> | null = null;
  /** Schedules whose gate this process used, with when. */
  private readonly active = new Map<string, number>();
  private readonly loading = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly pool: Pool,
    private readonly repo: ConcertsRepository,
    private readonly committer: KeyedGroupCommitter<HoldRequest, HoldResult>,
    private readonly idempotency: IdempotencyService,
    private readonly idemRepo: IdempotencyRepository,
    private readonly rooms: Rooms,
    private readonly locks: Locks,
    private readonly log: FastifyBaseLogger,
    private readonly gate: SeatGate,
    private readonly breaker: GateBreaker,
    private readonly metrics: Metrics,
    private readonly opts: ConcertsOptions,
  ) {
    this.tracer = opts.tracer ?? noopTracer;
    this.seatMaps = new ReadCache((id) => this.loadSeatMap(id));
    this.scheduleLists = new ReadCache((id) => this.loadSchedules(id));
  }

  // ---- concerts and schedules ----------------------------------------------------------------

  async create(input: NewConcert): Promise<ConcertRow> {
    if (input.waitingRoomId !== null) {
      await this.rooms.room(input.waitingRoomId).catch(() => {
        throw appError('VALIDATION_FAILED', `body.waitingRoomId: no waiting room ${input.waitingRoomId}`);
      });
    }
    return this.repo.create(input);
  }

  async get(concertId: string): Promise<ConcertRow> {
    const row = isId(concertId) ? await this.repo.get(concertId) : null;
    if (!row) throw appError('NOT_FOUND', `no concert ${concertId}`);
    return row;
  }

  list(afterId: string | null, limit: number): Promise<ConcertRow[]> {
    return this.repo.list(afterId, limit);
  }

  /** The concert's schedules with their available seats, as of at most a second ago (ReadCache). */
  async schedules(concertId: string): Promise<ScheduleAvailability[]> {
    if (!isId(concertId)) throw appError('NOT_FOUND', `no concert ${concertId}`);
    const list = await this.scheduleLists.get(concertId);
    if (!list) throw appError('NOT_FOUND', `no concert ${concertId}`);
    return list;
  }

  private async loadSchedules(concertId: string): Promise<ScheduleAvailability[] | null> {
    const concert = await this.repo.get(concertId);
    if (!concert) return null;
    const available = await this.repo.availableSeats(concertId);
    return concert.schedules.map((s) => ({ ...s, availableSeats: available.get(s.id) ?? 0 }));
  }

  /** The seat map as of at most a second ago (ReadCache), with its ETag. */
  async seatMap(scheduleId: string): Promise<SeatMap> {
    if (!isId(scheduleId)) throw appError('NOT_FOUND', `no schedule ${scheduleId}`);
    const map = await this.seatMaps.get(scheduleId);
    if (!map) throw appError('NOT_FOUND', `no schedule ${scheduleId}`);
    return map;
  }

  private async loadSeatMap(scheduleId: string): Promise<SeatMap | null> {
    const schedule = await this.schedule(scheduleId);
    if (!schedule) return null;
    const seats = await this.repo.seatMap(scheduleId);
    const items = seats.map((s) => ({ number: s.number, status: s.status, price: schedule.price }));
    return { scheduleId, items, etag: ReadCache.etagOf(items) };
  }

  /** Schedule metadata (immutable once created), cached 5 s; a miss is remembered 1 s. */
  private async schedule(scheduleId: string): Promise<ScheduleMeta | null> {
    const now = Date.now();
    const hit = this.meta.get(scheduleId);
    if (hit && now - hit.at < (hit.row ? META_TTL_MS : MISSING_TTL_MS)) return hit.row;
    const row = await this.repo.schedule(scheduleId);
    if (this.meta.size > 100_000) this.meta.clear();
    this.meta.set(scheduleId, { row, at: now });
    return row;
  }

  // ---- holds --------------------------------------------------------------------------------

  /**
   * 201 with the hold (stored for the key, when one is given), or an AppError. `pass` is the
   * X-Waiting-Room-Pass header, needed when the concert is behind a waiting room.
   */
  async hold(
    userId: string,
    body: { scheduleId: string; seats: number[] },
    pass: string | undefined,
    idem: { key: string; requestHash: string } | null,
  ): Promise<Answer> {
    const { scheduleId } = body;
    const schedule = isId(scheduleId) ? await this.schedule(scheduleId) : null;
    if (!schedule) throw appError('NOT_FOUND', `no schedule ${scheduleId}`);
    if (new Set(body.seats).size !== body.seats.length)
      throw appError('VALIDATION_FAILED', 'body.seats must not repeat a seat');
    const outside = body.seats.filter((n) => n > schedule.seatCount);
    if (outside.length)
      throw appError(
        'VALIDATION_FAILED',
        `body.seats: schedule ${scheduleId} has seats 1 to ${schedule.seatCount}; no seat ${outside.join(', ')}`,
      );
    if (schedule.waitingRoomId !== null) await this.rooms.checkPass(schedule.waitingRoomId, userId, pass);

    const req: HoldRequest = { scheduleId, userId, seats: [...body.seats].sort((a, b) => a - b) };
    if (!idem) {
      await this.tracer.span('seat.check', () => this.checkGate(req));
      let result: HoldResult;
      try {
        result = await this.tracer.span('seat.commit', () => this.committer.submit(scheduleId, req));
      } catch (err) {
        this.metrics.seatHolds.inc({ outcome: 'unavailable', by: 'commit' });
        this.log.warn({ err, scheduleId }, 'hold batch could not be committed; nothing was held');
        throw appError('UNAVAILABLE', 'the hold could not be made durable; nothing was held, try again', {
          'retry-after': '1',
        });
      }
      this.metrics.seatHolds.inc({ outcome: result.outcome.toLowerCase(), by: 'commit' });
      if (result.outcome === 'HELD')
        this.settleGate(scheduleId, userId, req.seats, 'HELD', result.expiresAt.getTime() - GATE_MARGIN_MS);
      return { status: 201, body: this.held(scheduleId, result), replayed: false };
    }
    const answer = await this.idempotency.run(
      { userId, ...idem, route: RESERVATIONS_ROUTE },
      (): Promise<EffectResult> =>
        withTransaction(this.pool, async (c) => {
          const claimed = await this.idemRepo.claimMany(c, [{ userId, ...idem }]);
          if (claimed.size === 0) {
            const record = await this.idemRepo.find(userId, idem.key, c);
            if (record) return { kind: 'taken', record };
            throw appError('IDEMPOTENCY_IN_PROGRESS', 'retry this request', { 'retry-after': '1' });
          }
          // A refusal throws: the transaction rolls back and the key is free again.
          const result = await this.repo.holdOne(c, req, this.opts.holdSeconds, this.tracer.traceparent());
          this.metrics.seatHolds.inc({ outcome: result.outcome.toLowerCase(), by: 'commit' });
          const response = { status: 201, body: this.held(scheduleId, result) };
          await this.idemRepo.completeMany(c, [{ userId, key: idem.key, ...response }]);
          return { kind: 'done', response };
        }),
    );
    // Committed now (a replay's hold may have been paid or released since: left to the refresh).
    if (!answer.replayed && answer.status === 201) {
      const view = answer.body as HoldView;
      this.settleGate(scheduleId, userId, view.seats, 'HELD', Date.parse(view.expiresAt) - GATE_MARGIN_MS);
    }
    return answer;
  }

  // ---- the seat gate ------------------------------------------------------------------------

  /**
   * Checks the seats against the gate. Returns when the commit is to decide: the gate sees nothing
   * committed in the way, or could not answer (not loadable, breaker open, an error). A gate
   * refusal throws its AppError, like PostgreSQL's.
   */
  private async checkGate(req: HoldRequest): Promise<void> {
    const { scheduleId, userId, seats } = req;
    const attempt = () =>
      this.breaker.execute('seat-check', () =>
        this.gate.check(scheduleId, userId, seats, Date.now(), MAX_HELD_SEATS),
      );
    try {
      let r = await attempt();
      if (r.outcome === 'NOT_LOADED') {
        await this.loadGate(scheduleId);
        r = await attempt();
      }
      this.active.set(scheduleId, Date.now());
      switch (r.outcome) {
        case 'CLEAR':
        case 'NOT_LOADED':
          return;
        case 'SEAT_UNAVAILABLE':
          this.metrics.seatHolds.inc({ outcome: 'seat_unavailable', by: 'gate' });
          return this.held(scheduleId, r);
        case 'HOLD_LIMIT':
          this.metrics.seatHolds.inc({ outcome: 'hold_limit', by: 'gate' });
          return this.held(scheduleId, r);
      }
    } catch (err) {
      if (err instanceof AppError) throw err;
      this.log.debug({ err, scheduleId }, 'seat gate unusable; the hold goes straight to PostgreSQL');
    }
  }

  /** Fire-and-forget: the answer never waits for it; a lost settle is repaired by the next refresh. */
  private settleGate(
    scheduleId: string,
    userId: string,
    seats: number[],
    outcome: SeatSettle,
    untilMs: number,
  ) {
    this.breaker
      .execute('seat-settle', () => this.gate.settle(scheduleId, userId, seats, outcome, untilMs, Date.now()))
      .catch((err) => this.log.debug({ err, scheduleId }, 'seat gate settle failed; the refresh repairs it'));
  }

  /** Rebuilds a schedule's gate from PostgreSQL; one load at a time per schedule. */
  private loadGate(scheduleId: string): Promise<void> {
    let p = this.loading.get(scheduleId);
    if (!p) {
      p = (async () => {
        const snap = await this.repo.gateSnapshot(scheduleId);
        const taken = snap.taken.map((t) => ({
          ...t,
          untilMs: t.untilMs === null ? null : t.untilMs - GATE_MARGIN_MS,
        }));
        await this.breaker.execute('seat-load', () => this.gate.load(scheduleId, { taken }));
      })().finally(() => this.loading.delete(scheduleId));
      this.loading.set(scheduleId, p);
    }
    return p;
  }

  /** Reloads the gates of the schedules this process used within ACTIVE_MS. */
  async refreshGates(): Promise<void> {
    const now = Date.now();
    for (const [scheduleId, at] of this.active) {
      if (now - at > ACTIVE_MS) {
        this.active.delete(scheduleId);
        continue;
      }
      await this.loadGate(scheduleId).catch((err) =>
        this.log.debug({ err, scheduleId }, 'seat gate refresh failed; retried next pass'),
      );
    }
  }

  /** The 201 body of a HELD result; every other result becomes its AppError. */
  private held(scheduleId: string, r: Exclude<HoldResult, { outcome: 'HELD' }>): never;
  private held(scheduleId: string, r: HoldResult): HoldView;
  private held(scheduleId: string, r: HoldResult): HoldView {
    switch (r.outcome) {
      case 'HELD':
        return {
          reservationId: r.reservationId,
          scheduleId,
          seats: r.seats,
          status: 'HELD',
          total: r.total,
          expiresAt: r.expiresAt.toISOString(),
        };
      case 'SEAT_UNAVAILABLE':
        throw appError(
          'SEAT_UNAVAILABLE',
          `seat${r.seats.length > 1 ? 's' : ''} ${r.seats.join(', ')} of schedule ${scheduleId} ${r.seats.length > 1 ? 'are' : 'is'} taken; nothing was held`,
        );
      case 'HOLD_LIMIT':
        throw appError(
          'HOLD_LIMIT',
          `at most ${MAX_HELD_SEATS} seats may be held per user and schedule; pay or cancel a hold first`,
        );
      case 'NOT_FOUND':
        throw appError('NOT_FOUND', `no schedule ${scheduleId}`);
    }
  }

  // ---- pay, cancel, reads -------------------------------------------------------------------

  /** 200 with the paid reservation (stored for the key, when one is given), or an AppError. */
  async pay(
    reservationId: string,
    userId: string,
    idem: { key: string; requestHash: string } | null,
  ): Promise<Answer> {
    if (!isId(reservationId)) throw appError('NOT_FOUND', `no reservation ${reservationId}`);
    let answer: Answer;
    let paid: ReservationRow | null = null;
    if (!idem) {
      paid = await withTransaction(this.pool, async (c) =>
        this.paidOrThrow(
          reservationId,
          await this.repo.pay(c, reservationId, userId, this.tracer.traceparent()),
        ),
      );
      answer = { status: 200, body: this.paidView(paid), replayed: false };
    } else {
      answer = await this.idempotency.run(
        { userId, ...idem, route: PAY_ROUTE },
        (): Promise<EffectResult> =>
          withTransaction(this.pool, async (c) => {
            const claimed = await this.idemRepo.claimMany(c, [{ userId, ...idem }]);
            if (claimed.size === 0) {
              const record = await this.idemRepo.find(userId, idem.key, c);
              if (record) return { kind: 'taken', record };
              throw appError('IDEMPOTENCY_IN_PROGRESS', 'retry this request', { 'retry-after': '1' });
            }
            paid = this.paidOrThrow(
              reservationId,
              await this.repo.pay(c, reservationId, userId, this.tracer.traceparent()),
            );
            const response = { status: 200, body: this.paidView(paid) };
            await this.idemRepo.completeMany(c, [{ userId, key: idem.key, ...response }]);
            return { kind: 'done', response };
          }),
      );
    }
    const done = paid as ReservationRow | null;
    if (done) {
      this.settleGate(done.scheduleId, userId, done.seats, 'SOLD', 0);
      const schedule = await this.schedule(done.scheduleId);
      if (schedule?.waitingRoomId) await this.rooms.complete(schedule.waitingRoomId, userId);
    }
    return answer;
  }

  private paidOrThrow(reservationId: string, r: PayResult): ReservationRow {
    this.metrics.seatPayments.inc({ outcome: r.outcome.toLowerCase() });
    switch (r.outcome) {
      case 'PAID':
        return r.reservation;
      case 'NOT_FOUND':
        throw appError('NOT_FOUND', `no reservation ${reservationId}`);
      case 'ALREADY_PAID':
        throw appError('ALREADY_PAID', `reservation ${reservationId} is already paid`);
      case 'HOLD_EXPIRED':
        throw appError(
          'HOLD_EXPIRED',
          r.why === 'cancelled'
            ? `reservation ${reservationId} was cancelled; hold the seats again`
            : `the hold of reservation ${reservationId} has expired; hold the seats again`,
        );
      case 'INSUFFICIENT_POINTS':
        throw appError(
          'INSUFFICIENT_POINTS',
          `reservation ${reservationId} costs ${r.total} points; the balance is ${r.balance}`,
        );
    }
  }

  private paidView(r: ReservationRow): PaidView {
    return {
      reservationId: r.id,
      status: 'PAID',
      seats: r.seats,
      total: r.total,
      balanceAfter: r.balanceAfter ?? 0,
      paidAt: (r.paidAt as Date).toISOString(),
    };
  }

  async cancel(reservationId: string, userId: string): Promise<void> {
    const r = isId(reservationId)
      ? await this.repo.cancel(reservationId, userId)
      : ({ outcome: 'NOT_FOUND' } as const);
    if (r.outcome === 'NOT_FOUND') throw appError('NOT_FOUND', `no reservation ${reservationId}`);
    if (r.outcome === 'ALREADY_PAID')
      throw appError('ALREADY_PAID', `reservation ${reservationId} is paid; it cannot be cancelled`);
    if (r.outcome === 'CANCELLED') this.settleGate(r.scheduleId, userId, r.seats, 'FREE', 0);
  }

  async reservation(reservationId: string, userId: string): Promise<ReservationRow> {
    const r = isId(reservationId) ? await this.repo.reservation(reservationId, userId) : null;
    if (!r) throw appError('NOT_FOUND', `no reservation ${reservationId}`);
    return r;
  }

  listForUser(userId: string, beforeId: string | null, limit: number): Promise<ReservationRow[]> {
    return this.repo.listForUser(userId, beforeId, limit);
  }

  // ---- the sweeper --------------------------------------------------------------------------

  /** One tidy pass (see ConcertsRepository.sweepExpired); returns how many holds it marked EXPIRED. */
  async sweep(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.repo.sweepExpired(SWEEP_BATCH);
      total += n;
      if (n < SWEEP_BATCH) return total;
    }
  }

  /** Runs the sweeper every sweepIntervalMs, in one process at a time. */
  start(): void {
    if (this.timer || this.closed) return;
    const every = this.opts.sweepIntervalMs;
    this.timer = setInterval(() => {
      if (this.sweeping || this.closed) return;
      this.sweeping = this.locks
        .runExclusive('concerts-sweeper', every * 5, () => this.sweep())
        .then(
          () => {},
          (err) => this.log.warn({ err }, 'hold sweeper pass failed'),
        )
        .finally(() => {
          this.sweeping = null;
        });
    }, every);
    this.timer.unref();
    this.refreshTimer = setInterval(() => {
      if (this.refreshing || this.closed) return;
      this.refreshing = this.refreshGates().finally(() => {
        this.refreshing = null;
      });
    }, this.opts.refreshMs);
    this.refreshTimer.unref();
  }

  health(): { status: 'up' | 'degraded'; detail: string } {
    return {
      status: this.breaker.open ? 'degraded' : 'up',
      detail: `${this.gate.kind} seat gate, breaker ${this.breaker.open ? 'open (PostgreSQL-only path)' : 'closed'}; sweeper ${this.timer ? 'running' : 'stopped'}`,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.timer = null;
    this.refreshTimer = null;
    await this.sweeping;
    await this.refreshing;
    await this.committer.close();
  }
}
