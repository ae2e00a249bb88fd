/**
 * The audit's questions to PostgreSQL, asked the same way by the drill, the benchmarks and the
 * tests: each function reads facts and judges nothing, so every caller applies its own rule to the
 * same numbers. They read only committed rows (autocommit, READ COMMITTED) of the schema in
 * migrations/, and never write.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import pg from 'pg';

/** What the audit functions need of a connection: pg.Client, a PoolClient or a Pool. */
export type AuditDb = Pick<pg.ClientBase, 'query'>;

/** Connects to `url`, runs `fn`, and always disconnects. */
export async function withDatabase<T>(
  url: string,
  fn: (db: pg.Client) => Promise<T>,
  applicationName = 'stampede-audit',
): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface CouponFacts {
  /** coupons.quantity */
  quantity: number;
  /** coupons.issued_count: the counter the issuance path keeps next to the rows. */
  issuedCount: number;
  /** user_coupons rows of the coupon. */
  rows: number;
  distinctUsers: number;
  /** Users holding the coupon more than once. */
  duplicatedUsers: number;
}

/** The coupon's counter and its user_coupons rows; throws when the coupon does not exist. */
export async function readCouponFacts(db: AuditDb, couponId: string): Promise<CouponFacts> {
  const c = await db.query<{ quantity: number; issued_count: number }>(
    'SELECT quantity, issued_count FROM coupons WHERE id = $1',
    [couponId],
  );
  if (!c.rows[0]) throw new Error(`coupon ${couponId} is not in the coupons table`);
  const r = await db.query<{ rows: number; users: number; duplicated: number }>(
    `SELECT count(*)::int AS rows, count(DISTINCT user_id)::int AS users,
            (SELECT count(*)::int FROM (
               SELECT user_id FROM user_coupons WHERE coupon_id = $1 GROUP BY user_id HAVING count(*) > 1
             ) dup) AS duplicated
       FROM user_coupons WHERE coupon_id = $1`,
    [couponId],
  );
  return {
    quantity: c.rows[0].quantity,
    issuedCount: c.rows[0].issued_count,
    rows: r.rows[0].rows,
    distinctUsers: r.rows[0].users,
    duplicatedUsers: r.rows[0].duplicated,
  };
}

/** The ids (as text) of the users holding the coupon, one entry per user_coupons row. */
export async function readCouponHolders(db: AuditDb, couponId: string): Promise<string[]> {
  const { rows } = await db.query<{ u: string }>(
    'SELECT user_id::text AS u FROM user_coupons WHERE coupon_id = $1',
    [couponId],
  );
  return rows.map((r) => r.u);
}

/**
 * Waits until the coupon's row count stops moving (two reads `intervalMs` apart agree, at most
 * `polls` reads): requests a load tool abandoned at its stop may still be committing.
 * Resolves to the last count.
 */
export async function settledCouponRows(
  db: AuditDb,
  couponId: string,
  polls = 30,
  intervalMs = 500,
): Promise<number> {
  let last = -1;
  for (let i = 0; i < polls; i++) {
    const { rows } = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM user_coupons WHERE coupon_id = $1',
      [couponId],
    );
    if (rows[0].n === last) break;
    last = rows[0].n;
    await sleepMs(intervalMs);
  }
  return last;
}

export interface CommerceFacts {
  /** Products among the given ones with stock < 0 or stock + units sold ≠ their initial stock (or missing). */
  productsOff: number;
  orders: number;
  ordersWithCoupon: number;
  couponsUsed: number;
  /** Wallets whose balance is not the sum of their ledger. */
  walletsOff: number;
}

/**
 * Commerce invariants over the whole database: stock conservation for the products whose initial
 * stock is given (`initialStock`: product id → units), wallets = ledgers, and the counts that tie
 * orders to coupons.
 */
export async function readCommerceFacts(
  db: AuditDb,
  initialStock: ReadonlyMap<string, number>,
): Promise<CommerceFacts> {
  const { rows } = await db.query<CommerceFacts>(
    `SELECT
       (SELECT count(*) FROM unnest($1::bigint[], $2::bigint[]) AS s(id, initial)
          LEFT JOIN products p ON p.id = s.id
         WHERE p.id IS NULL OR p.stock < 0
            OR p.stock + COALESCE((SELECT sum(quantity) FROM order_items i WHERE i.product_id = p.id), 0)
               <> s.initial)::int AS "productsOff",
       (SELECT count(*) FROM orders)::int AS orders,
       (SELECT count(*) FROM orders WHERE user_coupon_id IS NOT NULL)::int AS "ordersWithCoupon",
       (SELECT count(*) FROM user_coupons WHERE status = 'USED')::int AS "couponsUsed",
       (SELECT count(*) FROM point_wallets w
         WHERE w.balance <> (SELECT COALESCE(sum(amount), 0) FROM point_ledger l WHERE l.user_id = w.user_id)
       )::int AS "walletsOff"`,
    [[...initialStock.keys()], [...initialStock.values()]],
  );
  return rows[0];
}

export interface UserCommerceFacts {
  /** orders rows of the user. */
  orders: number;
  /** Sum of those orders' totals. */
  paidTotal: number;
  /** point_wallets.balance; null when the user has no wallet. */
  balance: number | null;
}

/**
 * Orders and wallet of each given user (by id, as text), so an audit can compare its own users
 * with what they see through the API even on a database other clients also write to.
 */
export async function readUserCommerceFacts(
  db: AuditDb,
  userIds: readonly string[],
): Promise<Map<string, UserCommerceFacts>> {
  const { rows } = await db.query<{ id: string; orders: number; paid: string; balance: string | null }>(
    `SELECT u.id::text AS id,
            (SELECT count(*)::int FROM orders o WHERE o.user_id = u.id) AS orders,
            (SELECT COALESCE(sum(o.total), 0)::text FROM orders o WHERE o.user_id = u.id) AS paid,
            (SELECT w.balance::text FROM point_wallets w WHERE w.user_id = u.id) AS balance
       FROM unnest($1::bigint[]) AS u(id)`,
    [userIds],
  );
  return new Map(
    rows.map((r) => [
      r.id,
      { orders: r.orders, paidTotal: Number(r.paid), balance: r.balance === null ? null : Number(r.balance) },
    ]),
  );
}

export interface AdmissionRow {
  /** waiting_room_admissions.id, as text. */
  id: string;
  userId: string;
  seq: number;
  /** ms since the epoch. */
  admittedAt: number;
  passExpiresAt: number;
}

/** A room's admission log in log order (by id). */
export async function readAdmissions(db: AuditDb, roomId: string): Promise<AdmissionRow[]> {
  const { rows } = await db.query<{ id: string; u: string; seq: string; at: Date; exp: Date }>(
    `SELECT a.id::text AS id, a.user_id::text AS u, a.seq::text AS seq, a.admitted_at AS at, a.pass_expires_at AS exp
       FROM waiting_room_admissions a WHERE a.room_id = $1 ORDER BY a.id`,
    [roomId],
  );
  return rows.map((r) => ({
    id: r.id,
    userId: r.u,
    seq: Number(r.seq),
    admittedAt: r.at.getTime(),
    passExpiresAt: r.exp.getTime(),
  }));
}

export interface RoomEntryRow {
  userId: string;
  seq: number | null;
  status: 'WAITING' | 'ADMITTED' | 'EXPIRED' | 'DONE';
  /** ms since the epoch, or null. */
  joinedAt: number;
  admittedAt: number | null;
  passExpiresAt: number | null;
  endedAt: number | null;
}

/** Every entry of a room (left entries are deleted rows and are not among them). */
export async function readRoomEntries(db: AuditDb, roomId: string): Promise<RoomEntryRow[]> {
  const { rows } = await db.query<{
    u: string;
    seq: string | null;
    status: RoomEntryRow['status'];
    joined: Date;
    admitted: Date | null;
    exp: Date | null;
    ended: Date | null;
  }>(
    `SELECT user_id::text AS u, seq::text AS seq, status, joined_at AS joined, admitted_at AS admitted,
            pass_expires_at AS exp, ended_at AS ended
       FROM waiting_room_entries WHERE room_id = $1`,
    [roomId],
  );
  return rows.map((r) => ({
    userId: r.u,
    seq: r.seq === null ? null : Number(r.seq),
    status: r.status,
    joinedAt: r.joined.getTime(),
    admittedAt: r.admitted?.getTime() ?? null,
    passExpiresAt: r.exp?.getTime() ?? null,
    endedAt: r.ended?.getTime() ?? null,
  }));
}

export interface AdmissionLogFacts {
  admissions: number;
  distinctUsers: number;
  /** Users with more than one admission. */
  admittedTwice: number;
  /** Admissions (in log order) whose seq is not above the one logged before them. */
  outOfOrder: number;
}

/** Counts over a room's admission log: how many, how many users, repeats, and order breaks. */
export async function readAdmissionLogFacts(db: AuditDb, roomId: string): Promise<AdmissionLogFacts> {
  const { rows } = await db.query<AdmissionLogFacts>(
    `SELECT count(*)::int AS admissions, count(DISTINCT user_id)::int AS "distinctUsers",
            (SELECT count(*)::int FROM (
               SELECT user_id FROM waiting_room_admissions WHERE room_id = $1 GROUP BY user_id HAVING count(*) > 1
             ) twice) AS "admittedTwice",
            (SELECT count(*)::int FROM (
               SELECT seq, lag(seq) OVER (ORDER BY id) AS prev FROM waiting_room_admissions WHERE room_id = $1
             ) o WHERE o.prev IS NOT NULL AND o.seq <= o.prev) AS "outOfOrder"
       FROM waiting_room_admissions WHERE room_id = $1`,
    [roomId],
  );
  return rows[0];
}

export interface WaitingRoomSnapshot {
  entries: RoomEntryRow[];
  admissions: AdmissionRow[];
  /** user_coupons rows of the coupon: holder and issued_at (ms since the epoch). */
  couponRows: { userId: string; issuedAt: number }[];
}

/**
 * A room's entries, its admission log and the rows of its protected coupon, read in one
 * REPEATABLE READ READ ONLY transaction so the three agree (the admitter may still be running).
 * `db` must be one connection (a pg.Client), not a pool.
 */
export async function readWaitingRoomSnapshot(
  db: AuditDb,
  roomId: string,
  couponId: string,
): Promise<WaitingRoomSnapshot> {
  await db.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const entries = await readRoomEntries(db, roomId);
    const admissions = await readAdmissions(db, roomId);
    const { rows } = await db.query<{ u: string; at: Date }>(
      'SELECT user_id::text AS u, issued_at AS at FROM user_coupons WHERE coupon_id = $1',
      [couponId],
    );
    return { entries, admissions, couponRows: rows.map((r) => ({ userId: r.u, issuedAt: r.at.getTime() })) };
  } finally {
    await db.query('COMMIT');
  }
}

export interface ScheduleSeatFacts {
  scheduleId: string;
  /** concert_schedules.seat_count */
  seatCount: number;
  /** schedule_seats rows, and the highest seat number among them (0 without rows). */
  seatRows: number;
  maxSeat: number;
  /** schedule_seats by state at the snapshot: SOLD, HELD by a live hold, free (AVAILABLE or HELD past its expiry). */
  sold: number;
  heldLive: number;
  available: number;
  /** sold_seats rows of the schedule, and seats with more than one of them. */
  soldRows: number;
  soldTwice: number;
}

export interface SeatReservationRow {
  id: string;
  scheduleId: string;
  userId: string;
  seats: number[];
  total: number;
  status: 'HELD' | 'PAID' | 'EXPIRED' | 'CANCELLED';
  /** ms since the epoch (PostgreSQL's clock). */
  createdAt: number;
  expiresAt: number;
  paidAt: number | null;
  /** sold_seats rows naming this reservation. */
  soldRows: number;
  /** USE rows of point_ledger whose ref is `reservation:<id>`, and the points they took. */
  ledgerUses: number;
  ledgerTaken: number;
}

export interface ConcertSnapshot {
  /** The given schedules found in concert_schedules, by id. */
  schedules: ScheduleSeatFacts[];
  /** Every reservation of those schedules, by id. */
  reservations: SeatReservationRow[];
  /** The admission log of the room in front of the concert. */
  admissions: AdmissionRow[];
  /** PostgreSQL's now() of the snapshot, ms since the epoch: what "live" was judged against. */
  takenAt: number;
}

/**
 * The seats, reservations, sales and payments of the given schedules, and the admission log of the
 * room in front of them, read in one REPEATABLE READ READ ONLY transaction so they agree (the
 * sweeper may still be tidying). `db` must be one connection (a pg.Client), not a pool.
 */
export async function readConcertSnapshot(
  db: AuditDb,
  scheduleIds: readonly string[],
  roomId: string,
): Promise<ConcertSnapshot> {
  await db.query('BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const at = await db.query<{ now: Date }>('SELECT now() AS now');
    const schedules = await db.query<ScheduleSeatFacts>(
      `SELECT s.id::text AS "scheduleId", s.seat_count AS "seatCount",
              count(ss.seat_number)::int AS "seatRows", COALESCE(max(ss.seat_number), 0)::int AS "maxSeat",
              count(*) FILTER (WHERE ss.status = 'SOLD')::int AS sold,
              count(*) FILTER (WHERE ss.status = 'HELD' AND ss.hold_expires_at > now())::int AS "heldLive",
              count(*) FILTER (WHERE ss.status = 'AVAILABLE'
                                  OR (ss.status = 'HELD' AND ss.hold_expires_at <= now()))::int AS available,
              (SELECT count(*)::int FROM sold_seats x WHERE x.schedule_id = s.id) AS "soldRows",
              (SELECT count(*)::int FROM (
                 SELECT 1 FROM sold_seats x WHERE x.schedule_id = s.id GROUP BY x.seat_number HAVING count(*) > 1
               ) twice) AS "soldTwice"
         FROM concert_schedules s LEFT JOIN schedule_seats ss ON ss.schedule_id = s.id
        WHERE s.id = ANY ($1::bigint[])
        GROUP BY s.id ORDER BY s.id`,
      [scheduleIds],
    );
    const reservations = await db.query<{
      id: string;
      scheduleId: string;
      userId: string;
      seats: number[];
      total: string;
      status: SeatReservationRow['status'];
      createdAt: Date;
      expiresAt: Date;
      paidAt: Date | null;
      soldRows: number;
      ledgerUses: number;
      ledgerTaken: string;
    }>(
      `SELECT r.id::text AS id, r.schedule_id::text AS "scheduleId", r.user_id::text AS "userId", r.seats,
              r.total::text AS total, r.status, r.created_at AS "createdAt", r.expires_at AS "expiresAt",
              r.paid_at AS "paidAt", COALESCE(x.n, 0)::int AS "soldRows",
              COALESCE(l.n, 0)::int AS "ledgerUses", COALESCE(l.taken, 0)::text AS "ledgerTaken"
         FROM seat_reservations r
         LEFT JOIN (SELECT reservation_id, count(*) AS n FROM sold_seats
                     WHERE schedule_id = ANY ($1::bigint[]) GROUP BY reservation_id) x ON x.reservation_id = r.id
         LEFT JOIN LATERAL (SELECT count(*) AS n, -sum(p.amount) AS taken FROM point_ledger p
                             WHERE p.user_id = r.user_id AND p.type = 'USE' AND p.ref = 'reservation:' || r.id) l ON true
        WHERE r.schedule_id = ANY ($1::bigint[])
        ORDER BY r.id`,
      [scheduleIds],
    );
    return {
      schedules: schedules.rows,
      reservations: reservations.rows.map((r) => ({
        ...r,
        total: Number(r.total),
        createdAt: r.createdAt.getTime(),
        expiresAt: r.expiresAt.getTime(),
        paidAt: r.paidAt?.getTime() ?? null,
        ledgerTaken: Number(r.ledgerTaken),
      })),
      admissions: await readAdmissions(db, roomId),
      takenAt: at.rows[0].now.getTime(),
    };
  } finally {
    await db.query('COMMIT');
  }
}
