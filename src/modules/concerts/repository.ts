/**
 * Concert SQL. The truth of every seat lives here, exact on its own whatever a gate believed (see
 * the header of migrations/005_concerts.sql for the invariants and the lock order):
 *   - holds: `holdBatch` (group commit: one statement per schedule and batch) and `holdOne` (inside
 *     an Idempotency-Key transaction) call hold_seats_batch, which locks the schedule, then every
 *     seat of the batch in ascending order, and takes a request's seats only if each is AVAILABLE
 *     or held by an expired hold;
 *   - pay: one transaction locks the reservation, sells its seats only while its hold is live
 *     (`hold_expires_at > now()`), debits the wallet with a USE ledger row and writes the sale;
 *   - reads compute a seat's and a reservation's state with the same predicate, so a hold past its
 *     expiry reads as free / EXPIRED at once, before the sweeper has tidied it.
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';
import type { SeatSnapshot } from './seat-gate.js';

export interface NewConcert {
  name: string;
  venue: string | null;
  waitingRoomId: string | null;
  schedules: { startsAt: Date; seatCount: number; price: number }[];
}

export interface ScheduleRow {
  id: string;
  concertId: string;
  startsAt: Date;
  seatCount: number;
  price: number;
}

export interface ConcertRow {
  id: string;
  name: string;
  venue: string | null;
  waitingRoomId: string | null;
  schedules: ScheduleRow[];
}

/** A schedule with what the hold path needs to know about its concert. */
export interface ScheduleMeta extends ScheduleRow {
  waitingRoomId: string | null;
}

export type SeatStatus = 'AVAILABLE' | 'HELD' | 'SOLD';
export type ReservationStatus = 'HELD' | 'PAID' | 'EXPIRED' | 'CANCELLED';

export interface HoldRequest {
  scheduleId: string;
  userId: string;
  /** 1..4 distinct seat numbers. */
  seats: number[];
}

export type HoldResult =
  | { outcome: 'HELD'; reservationId: string; seats: number[]; total: number; expiresAt: Date }
  | { outcome: 'HOLD_LIMIT' }
  | { outcome: 'SEAT_UNAVAILABLE'; seats: number[] }
  | { outcome: 'NOT_FOUND' };

export interface ReservationRow {
  id: string;
  scheduleId: string;
  concertId: string;
  userId: string;
  seats: number[];
  total: number;
  /** As of PostgreSQL's clock: a HELD row past expires_at reads EXPIRED. */
  status: ReservationStatus;
  createdAt: Date;
  expiresAt: Date;
  paidAt: Date | null;
  balanceAfter: number | null;
}

export type PayResult =
  | { outcome: 'PAID'; reservation: ReservationRow }
  | { outcome: 'NOT_FOUND' }
  | { outcome: 'ALREADY_PAID' }
  | { outcome: 'HOLD_EXPIRED'; why: 'expired' | 'cancelled' }
  | { outcome: 'INSUFFICIENT_POINTS'; balance: number; total: number };

export type CancelResult =
  | { outcome: 'CANCELLED'; scheduleId: string; seats: number[] }
  | { outcome: 'NOT_FOUND' | 'ALREADY_PAID' | 'ENDED' };

const SCHEDULE_COLUMNS = `s.id::text AS id, s.concert_id::text AS "concertId", s.starts_at AS "startsAt",
  s.seat_count AS "seatCount", s.price::float8 AS price`;

/** A reservation's state under the one expiry predicate. */
const RESERVATION_COLUMNS = `r.id::text AS id, r.schedule_id::text AS "scheduleId", s.concert_id::text AS "concertId",
  r.user_id::text AS "userId", r.seats, r.total::float8 AS total,
  CASE WHEN r.status = 'HELD' AND r.expires_at <= now() THEN 'EXPIRED' ELSE r.status END AS status,
  r.created_at AS "createdAt", r.expires_at AS "expiresAt", r.paid_at AS "paidAt",
  r.balance_after::float8 AS "balanceAfter"`;

/** Held by a live hold = HELD; held by an expired one = AVAILABLE (the one predicate). */
const SEAT_STATUS = `CASE WHEN ss.status = 'SOLD' THEN 'SOLD'
  WHEN ss.status = 'HELD' AND ss.hold_expires_at > now() THEN 'HELD' ELSE 'AVAILABLE' END`;

export class ConcertsRepository {
  constructor(private readonly pool: Pool) {}

  /** The concert, its schedules and every schedule's seat rows, in one transaction. */
  async create(c: NewConcert): Promise<ConcertRow> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string }>(
        'INSERT INTO concerts (name, venue, waiting_room_id) VALUES ($1, $2, $3) RETURNING id::text AS id',
        [c.name, c.venue, c.waitingRoomId],
      );
      const id = rows[0].id;
      const sched = await client.query<ScheduleRow>(
        `WITH ins AS (
           INSERT INTO concert_schedules (concert_id, starts_at, seat_count, price)
           SELECT $1, t.starts_at, t.seat_count, t.price
           FROM unnest($2::timestamptz[], $3::int[], $4::bigint[]) WITH ORDINALITY AS t(starts_at, seat_count, price, ord)
           ORDER BY t.ord
           RETURNING *
         ), seats AS (
           INSERT INTO schedule_seats (schedule_id, seat_number)
           SELECT ins.id, n FROM ins, generate_series(1, ins.seat_count) AS n
         )
         SELECT ${SCHEDULE_COLUMNS} FROM ins s ORDER BY s.id`,
        [
          id,
          c.schedules.map((s) => s.startsAt),
          c.schedules.map((s) => s.seatCount),
          c.schedules.map((s) => s.price),
        ],
      );
      await client.query('COMMIT');
      // Thousands of fresh seat rows: refresh the planner's statistics now rather than at the next
      // autovacuum, or the first reads of the sale plan as if the table were still small (seconds).
      await client.query('ANALYZE schedule_seats').catch(() => {}); // only plans suffer without it
      return { id, name: c.name, venue: c.venue, waitingRoomId: c.waitingRoomId, schedules: sched.rows };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  async get(concertId: string): Promise<ConcertRow | null> {
    const { rows } = await this.pool.query<Omit<ConcertRow, 'schedules'>>(
      `SELECT id::text AS id, name, venue, waiting_room_id::text AS "waitingRoomId" FROM concerts WHERE id = $1`,
      [concertId],
    );
    if (!rows[0]) return null;
    return { ...rows[0], schedules: await this.schedules(concertId) };
  }

  /** Concerts by ascending id after `afterId`; limit+1 rows (the extra one tells a next page exists). */
  async list(afterId: string | null, limit: number): Promise<ConcertRow[]> {
    const { rows } = await this.pool.query<Omit<ConcertRow, 'schedules'>>(
      `SELECT id::text AS id, name, venue, waiting_room_id::text AS "waitingRoomId" FROM concerts
       WHERE ($1::bigint IS NULL OR id > $1) ORDER BY id LIMIT $2`,
      [afterId, limit + 1],
    );
    if (rows.length === 0) return [];
    const sched = await this.pool.query<ScheduleRow>(
      `SELECT ${SCHEDULE_COLUMNS} FROM concert_schedules s WHERE s.concert_id = ANY ($1::bigint[]) ORDER BY s.id`,
      [rows.map((r) => r.id)],
    );
    return rows.map((r) => ({ ...r, schedules: sched.rows.filter((s) => s.concertId === r.id) }));
  }

  async schedules(concertId: string): Promise<ScheduleRow[]> {
    const { rows } = await this.pool.query<ScheduleRow>(
      `SELECT ${SCHEDULE_COLUMNS} FROM concert_schedules s WHERE s.concert_id = $1 ORDER BY s.id`,
      [concertId],
    );
    return rows;
  }

  /** Seats free to hold right now, per schedule of the concert. */
  async availableSeats(concertId: string): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ id: string; n: number }>(
      `SELECT ss.schedule_id::text AS id, count(*)::int AS n
       FROM schedule_seats ss JOIN concert_schedules s ON s.id = ss.schedule_id
       WHERE s.concert_id = $1 AND (${SEAT_STATUS}) = 'AVAILABLE'
       GROUP BY ss.schedule_id`,
      [concertId],
    );
    return new Map(rows.map((r) => [r.id, r.n]));
  }

  async schedule(scheduleId: string): Promise<ScheduleMeta | null> {
    const { rows } = await this.pool.query<ScheduleMeta>(
      `SELECT ${SCHEDULE_COLUMNS}, c.waiting_room_id::text AS "waitingRoomId"
       FROM concert_schedules s JOIN concerts c ON c.id = s.concert_id WHERE s.id = $1`,
      [scheduleId],
    );
    return rows[0] ?? null;
  }

  /** Every seat of the schedule with its state as of now, by seat number. */
  async seatMap(scheduleId: string): Promise<{ number: number; status: SeatStatus }[]> {
    const { rows } = await this.pool.query<{ number: number; status: SeatStatus }>(
      `SELECT ss.seat_number AS number, ${SEAT_STATUS} AS status
       FROM schedule_seats ss WHERE ss.schedule_id = $1 ORDER BY ss.seat_number`,
      [scheduleId],
    );
    return rows;
  }

  /**
   * The group-commit executor of holds; one result per item, in order. Each schedule's share is one
   * transaction (lock statement + hold_seats_batch, see callHold); schedules run in parallel.
   */
  async holdBatch(
    items: HoldRequest[],
    holdSeconds: number,
    traceparents: readonly (string | null)[] = [],
  ): Promise<HoldResult[]> {
    const bySchedule = new Map<string, number[]>();
    items.forEach((it, i) => {
      const list = bySchedule.get(it.scheduleId);
      if (list) list.push(i);
      else bySchedule.set(it.scheduleId, [i]);
    });
    const results = new Array<HoldResult>(items.length);
    await Promise.all(
      [...bySchedule].map(async ([scheduleId, idx]) => {
        // One statement, its own transaction (hold_seats_batch takes the locks: migration 009).
        const share = await this.callHold(
          this.pool,
          scheduleId,
          idx.map((i) => items[i]),
          holdSeconds,
          traceparents.length ? idx.map((i) => traceparents[i] ?? null) : null,
        );
        idx.forEach((i, k) => {
          results[i] = share[k];
        });
      }),
    );
    return results;
  }

  /** One hold inside the caller's transaction (the Idempotency-Key path). */
  async holdOne(
    client: PoolClient,
    req: HoldRequest,
    holdSeconds: number,
    traceparent: string | null = null,
  ): Promise<HoldResult> {
    return (
      await this.callHold(client, req.scheduleId, [req], holdSeconds, traceparent ? [traceparent] : null)
    )[0];
  }

  /**
   * hold_seats_batch on `db` (the pool: one statement, its own transaction; or the caller's
   * transaction): it locks the schedule, then every seat any of `reqs` names in ascending order,
   * then judges the requests in arrival order on rows it already holds — never holding seat 20
   * while it waits for seat 1, which a pay (locking its seats in ascending order) may hold.
   */
  private async callHold(
    db: Pool | PoolClient,
    scheduleId: string,
    reqs: HoldRequest[],
    holdSeconds: number,
    traceparents: (string | null)[] | null,
  ): Promise<HoldResult[]> {
    const { rows } = await db.query<{
      ord: number;
      outcome: 'HELD' | 'HOLD_LIMIT' | 'SEAT_UNAVAILABLE' | 'NOT_FOUND';
      reservation_id: string | null;
      expires_at: Date | null;
      total: number | null;
      seats: number[] | null;
    }>(
      `SELECT ord, outcome, reservation_id::text AS reservation_id, expires_at, total::float8 AS total, seats
       FROM hold_seats_batch($1, $2::bigint[], $3::jsonb, $4, $5::text[])`,
      [
        scheduleId,
        reqs.map((r) => r.userId),
        JSON.stringify(reqs.map((r) => r.seats)),
        holdSeconds,
        traceparents,
      ],
    );
    if (rows.length === 1 && rows[0].outcome === 'NOT_FOUND')
      return reqs.map(() => ({ outcome: 'NOT_FOUND' }));
    if (rows.length !== reqs.length)
      throw new Error(`hold_seats_batch: ${rows.length} rows for ${reqs.length}`);
    const out = new Array<HoldResult>(reqs.length);
    for (const r of rows) {
      out[r.ord - 1] =
        r.outcome === 'HELD'
          ? {
              outcome: 'HELD',
              reservationId: r.reservation_id as string,
              seats: r.seats ?? [],
              total: r.total ?? 0,
              expiresAt: r.expires_at as Date,
            }
          : r.outcome === 'SEAT_UNAVAILABLE'
            ? { outcome: 'SEAT_UNAVAILABLE', seats: r.seats ?? [] }
            : { outcome: r.outcome === 'HOLD_LIMIT' ? 'HOLD_LIMIT' : 'NOT_FOUND' };
    }
    return out;
  }

  /**
   * Pays a live hold inside the caller's transaction: the seats become SOLD (and rows of sold_seats)
   * only while `hold_expires_at > now()`, the wallet pays with a USE row whose ref names the
   * reservation, the reservation becomes PAID and a reservation.paid event is written. Any refusal
   * has written nothing the caller must keep (it rolls back).
   */
  async pay(
    client: PoolClient,
    reservationId: string,
    userId: string,
    traceparent: string | null = null,
  ): Promise<PayResult> {
    const found = await client.query<{ status: string; live: boolean; total: number; seats: number[] }>(
      `SELECT status, expires_at > now() AS live, total::float8 AS total, seats FROM seat_reservations
       WHERE id = $1 AND user_id = $2 FOR NO KEY UPDATE`,
      [reservationId, userId],
    );
    const r = found.rows[0];
    if (!r) return { outcome: 'NOT_FOUND' };
    if (r.status === 'PAID') return { outcome: 'ALREADY_PAID' };
    if (r.status === 'CANCELLED') return { outcome: 'HOLD_EXPIRED', why: 'cancelled' };
    if (r.status !== 'HELD' || !r.live) return { outcome: 'HOLD_EXPIRED', why: 'expired' };

    // The seats, locked in ascending order, sold only while this hold is live on each of them.
    const sold = await client.query(
      `UPDATE schedule_seats ss SET status = 'SOLD', hold_expires_at = NULL
       FROM (SELECT schedule_id, seat_number FROM schedule_seats
             WHERE reservation_id = $1 ORDER BY seat_number FOR NO KEY UPDATE) l
       WHERE ss.schedule_id = l.schedule_id AND ss.seat_number = l.seat_number
         AND ss.reservation_id = $1 AND ss.status = 'HELD' AND ss.hold_expires_at > now()`,
      [reservationId],
    );
    if (sold.rowCount !== r.seats.length) return { outcome: 'HOLD_EXPIRED', why: 'expired' };

    let balance: number;
    if (r.total > 0) {
      const paid = await client.query<{ balance: number }>(
        `WITH w AS (
           UPDATE point_wallets SET balance = balance - $2, updated_at = now()
           WHERE user_id = $1 AND balance >= $2 RETURNING balance
         )
         INSERT INTO point_ledger (user_id, type, amount, balance_after, ref)
         SELECT $1, 'USE', -$2::bigint, balance, $3 FROM w
         RETURNING balance_after::float8 AS balance`,
        [userId, r.total, `reservation:${reservationId}`],
      );
      if (!paid.rows[0]) {
        const b = await client.query<{ balance: number }>(
          'SELECT balance::float8 AS balance FROM point_wallets WHERE user_id = $1',
          [userId],
        );
        return { outcome: 'INSUFFICIENT_POINTS', balance: b.rows[0]?.balance ?? 0, total: r.total };
      }
      balance = paid.rows[0].balance;
    } else {
      const b = await client.query<{ balance: number }>(
        'SELECT balance::float8 AS balance FROM point_wallets WHERE user_id = $1',
        [userId],
      );
      balance = b.rows[0]?.balance ?? 0;
    }

    const { rows } = await client.query<ReservationRow>(
      `WITH upd AS (
         UPDATE seat_reservations SET status = 'PAID', paid_at = now(), balance_after = $2, ended_at = now()
         WHERE id = $1 RETURNING *
       ), sale AS (
         INSERT INTO sold_seats (schedule_id, seat_number, reservation_id, user_id)
         SELECT upd.schedule_id, unnest(upd.seats), upd.id, upd.user_id FROM upd
       ), ev AS (
         INSERT INTO outbox (topic, user_id, payload, traceparent)
         SELECT 'reservation.paid', upd.user_id, jsonb_build_object(
           'reservationId', upd.id::text, 'concertId', s.concert_id::text, 'scheduleId', upd.schedule_id::text,
           'userId', upd.user_id::text, 'seats', to_jsonb(upd.seats), 'total', upd.total, 'paidAt', upd.paid_at),
           $3::text
         FROM upd JOIN concert_schedules s ON s.id = upd.schedule_id
       )
       SELECT ${RESERVATION_COLUMNS.replaceAll('r.', 'upd.')} FROM upd JOIN concert_schedules s ON s.id = upd.schedule_id`,
      [reservationId, balance, traceparent],
    );
    return { outcome: 'PAID', reservation: rows[0] };
  }

  /** Releases a live hold of the user's; a hold already ended (expired, cancelled) is left as it is. */
  async cancel(reservationId: string, userId: string): Promise<CancelResult> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const found = await client.query<{
        status: string;
        live: boolean;
        scheduleId: string;
        seats: number[];
      }>(
        `SELECT status, expires_at > now() AS live, schedule_id::text AS "scheduleId", seats FROM seat_reservations
         WHERE id = $1 AND user_id = $2 FOR NO KEY UPDATE`,
        [reservationId, userId],
      );
      const r = found.rows[0];
      let result: CancelResult;
      if (!r) result = { outcome: 'NOT_FOUND' };
      else if (r.status === 'PAID') result = { outcome: 'ALREADY_PAID' };
      else if (r.status !== 'HELD' || !r.live) result = { outcome: 'ENDED' };
      else {
        await client.query(
          `UPDATE schedule_seats ss SET status = 'AVAILABLE', reservation_id = NULL, holder_id = NULL, hold_expires_at = NULL
           FROM (SELECT schedule_id, seat_number FROM schedule_seats
                 WHERE reservation_id = $1 ORDER BY seat_number FOR NO KEY UPDATE) l
           WHERE ss.schedule_id = l.schedule_id AND ss.seat_number = l.seat_number
             AND ss.reservation_id = $1 AND ss.status = 'HELD'`,
          [reservationId],
        );
        await client.query(
          `UPDATE seat_reservations SET status = 'CANCELLED', ended_at = now() WHERE id = $1`,
          [reservationId],
        );
        result = { outcome: 'CANCELLED', scheduleId: r.scheduleId, seats: r.seats };
      }
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }

  /** What the seat gate needs of a schedule: every sold seat and every seat under a live hold. */
  async gateSnapshot(scheduleId: string): Promise<SeatSnapshot> {
    const { rows } = await this.pool.query<{ seat: number; holder: string; untilMs: number | null }>(
      `SELECT seat_number AS seat, holder_id::text AS holder,
              CASE WHEN status = 'SOLD' THEN NULL ELSE (extract(epoch FROM hold_expires_at) * 1000)::float8 END AS "untilMs"
       FROM schedule_seats
       WHERE schedule_id = $1 AND (status = 'SOLD' OR (status = 'HELD' AND hold_expires_at > now()))`,
      [scheduleId],
    );
    return { taken: rows };
  }

  async reservation(reservationId: string, userId: string): Promise<ReservationRow | null> {
    const { rows } = await this.pool.query<ReservationRow>(
      `SELECT ${RESERVATION_COLUMNS} FROM seat_reservations r JOIN concert_schedules s ON s.id = r.schedule_id
       WHERE r.id = $1 AND r.user_id = $2`,
      [reservationId, userId],
    );
    return rows[0] ?? null;
  }

  /** Newest first, ids below `beforeId`; limit+1 rows. */
  async listForUser(userId: string, beforeId: string | null, limit: number): Promise<ReservationRow[]> {
    const { rows } = await this.pool.query<ReservationRow>(
      `SELECT ${RESERVATION_COLUMNS} FROM seat_reservations r JOIN concert_schedules s ON s.id = r.schedule_id
       WHERE r.user_id = $1 AND ($2::bigint IS NULL OR r.id < $2) ORDER BY r.id DESC LIMIT $3`,
      [userId, beforeId, limit + 1],
    );
    return rows;
  }

  /**
   * The sweeper's tidy pass: holds already past expires_at (so already EXPIRED for every reader and
   * writer) are marked EXPIRED, their seat rows still pointing at them are cleared, and one
   * reservation.expired event each is written, in one statement. It decides nothing: a seat a new
   * hold took over no longer points at the old reservation and is left alone.
   */
  async sweepExpired(limit: number): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>(
      `WITH expired AS (
         SELECT id FROM seat_reservations WHERE status = 'HELD' AND expires_at <= now()
         ORDER BY expires_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED
       ), locked AS (
         -- Their seat rows, locked in ascending order like every other writer of seats.
         SELECT ss.schedule_id, ss.seat_number FROM schedule_seats ss
         WHERE ss.reservation_id IN (SELECT id FROM expired)
         ORDER BY ss.schedule_id, ss.seat_number FOR NO KEY UPDATE
       ), upd AS (
         UPDATE seat_reservations r SET status = 'EXPIRED', ended_at = now()
         FROM expired e WHERE r.id = e.id RETURNING r.*
       ), seats AS (
         UPDATE schedule_seats ss SET status = 'AVAILABLE', reservation_id = NULL, holder_id = NULL, hold_expires_at = NULL
         FROM locked l, upd
         WHERE ss.schedule_id = l.schedule_id AND ss.seat_number = l.seat_number
           AND ss.reservation_id = upd.id AND ss.status = 'HELD' AND ss.hold_expires_at <= now()
       ), ev AS (
         INSERT INTO outbox (topic, user_id, payload)
         SELECT 'reservation.expired', upd.user_id, jsonb_build_object(
           'reservationId', upd.id::text, 'scheduleId', upd.schedule_id::text, 'userId', upd.user_id::text,
           'seats', to_jsonb(upd.seats), 'expiresAt', upd.expires_at)
         FROM upd
       )
       SELECT count(*)::int AS n FROM upd`,
      [limit],
    );
    return rows[0].n;
  }
}
