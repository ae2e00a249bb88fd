/**
 * Rehearsal SQL: deleting everything one run tag marks (migrations/006_run_tags.sql), in ONE
 * transaction, children before parents. Nothing is half-deleted: any failure rolls the whole run
 * back, and the caller may simply try again.
 *
 * What belongs to a run:
 *   - the users, products, coupons and waiting rooms created with its tag;
 *   - everything its users own: orders and their lines, user coupons, ledger rows and wallet,
 *     Idempotency-Keys, notifications, outbox events, waiting-room entries and admissions, seat
 *     reservations and sold seats (concerts);
 *   - the entries and admissions of its rooms, whoever joined them.
 * What is kept, with its tag, because a row outside the run depends on it: a product in an order of
 * a user outside the run, a coupon held by a user outside the run, a room in front of a coupon that
 * is kept or outside the run, or in front of a concert. The answer counts them (`kept`).
 * What is given back: the stock the run's orders took from products that stay, the units its users
 * hold of coupons that stay (issued_count goes down, keeping it equal to the rows), and the seats
 * its reservations held or bought. So the rows outside the run read as if the rehearsal never
 * happened, and their invariants (stock + sold, issued_count = holders) still hold.
 *
 * Locks: the run's users, products, coupons and rooms first (so writers still busy with them finish
 * before anything is read, and new ones wait), then the rows outside the run that get something
 * back, each set in id order. A deadlock with a writer is possible (a rehearsal still running); the
 * service retries.
 *
 * Concert tables (migrations/005) are handled when they exist; a database migrated before them
 * simply skips those steps.
 */
import type { Pool, PoolClient } from '../../infra/postgres/pool.js';

/** Rows removed, by table. */
export interface DeletedCounts {
  users: number;
  products: number;
  coupons: number;
  waitingRooms: number;
  orders: number;
  orderItems: number;
  userCoupons: number;
  pointLedger: number;
  pointWallets: number;
  idempotencyKeys: number;
  notifications: number;
  outbox: number;
  waitingRoomEntries: number;
  waitingRoomAdmissions: number;
  seatReservations: number;
  soldSeats: number;
  chatRooms: number;
  chatMembers: number;
  chatMessages: number;
}

export interface RunDeletion {
  deleted: DeletedCounts;
  /** Given back to rows outside the run: units of stock, coupon units, seats. */
  returned: { stock: number; couponUnits: number; seats: number };
  /** Tagged rows kept because rows outside the run depend on them. */
  kept: { products: number; coupons: number; waitingRooms: number };
  /** The deleted rooms (their gates must forget them). */
  roomIds: string[];
  /** Entries of the run's users removed from rooms that remain (their gates must drop them). */
  entries: { roomId: string; userId: string }[];
}

/**
 * Every foreign key that points at a row a run deletion may remove, as `table.column → table`.
 * The deletion handles each of them; test/integration/run-cleanup.test.ts checks this list against
 * the database's own catalogue, so a new table referencing users (or products, coupons, rooms...)
 * fails that test until the deletion learns about it.
 */
export const RUN_REFERENCES = [
  'user_coupons.user_id → users',
  'point_wallets.user_id → users',
  'point_ledger.user_id → users',
  'orders.user_id → users',
  'idempotency_keys.user_id → users',
  'notifications.user_id → users',
  'waiting_room_entries.user_id → users',
  'waiting_room_admissions.user_id → users',
  'seat_reservations.user_id → users',
  'sold_seats.user_id → users',
  'order_items.product_id → products',
  'order_items.order_id → orders',
  'user_coupons.coupon_id → coupons',
  'orders.user_coupon_id → user_coupons',
  'waiting_room_entries.room_id → waiting_rooms',
  'waiting_room_admissions.room_id → waiting_rooms',
  'coupons.waiting_room_id → waiting_rooms',
  'concerts.waiting_room_id → waiting_rooms',
  'schedule_seats.reservation_id → seat_reservations',
  'sold_seats.reservation_id → seat_reservations',
  'chat_rooms.created_by → users',
  'chat_members.user_id → users',
  'chat_messages.user_id → users',
] as const;

const count = async (c: PoolClient, sql: string, params: unknown[] = []): Promise<number> =>
  (await c.query(sql, params)).rowCount ?? 0;

const total = async (c: PoolClient, sql: string, params: unknown[] = []): Promise<number> => {
  const { rows } = await c.query<{ n: number | null }>(sql, params);
  return Number(rows[0]?.n ?? 0);
};

// The run's sets, materialised once per transaction (dropped at its end, commit or rollback).
const RUN_USERS = 'SELECT id FROM run_users';
const RUN_ORDERS = 'SELECT id FROM run_orders';

export class RunsRepository {
  constructor(private readonly pool: Pool) {}

  /** Deletes the run `runTag`; null (and nothing changed) when no row carries that tag. */
  async deleteRun(runTag: string): Promise<RunDeletion | null> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      // A large run's statements may take longer than the pool's default statement timeout.
      await c.query("SET LOCAL statement_timeout = '300s'");
      const result = await this.deleteIn(c, runTag);
      await c.query(result ? 'COMMIT' : 'ROLLBACK');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  private async deleteIn(c: PoolClient, tag: string): Promise<RunDeletion | null> {
    // 1. Lock the run's own rows, each set in id order.
    const tagged = {
      users: await total(
        c,
        'SELECT count(*) AS n FROM (SELECT id FROM users WHERE run_tag = $1 ORDER BY id FOR UPDATE) l',
        [tag],
      ),
      products: await total(
        c,
        'SELECT count(*) AS n FROM (SELECT id FROM products WHERE run_tag = $1 ORDER BY id FOR UPDATE) l',
        [tag],
      ),
      coupons: await total(
        c,
        'SELECT count(*) AS n FROM (SELECT id FROM coupons WHERE run_tag = $1 ORDER BY id FOR UPDATE) l',
        [tag],
      ),
      waitingRooms: await total(
        c,
        'SELECT count(*) AS n FROM (SELECT id FROM waiting_rooms WHERE run_tag = $1 ORDER BY id FOR UPDATE) l',
        [tag],
      ),
    };
    if (tagged.users + tagged.products + tagged.coupons + tagged.waitingRooms === 0) return null;
    const { rows: present } = await c.query<{ concerts: boolean }>(
      "SELECT to_regclass('seat_reservations') IS NOT NULL AND to_regclass('concerts') IS NOT NULL AS concerts",
    );
    const concerts = present[0].concerts;

    // 2. What goes: the run's users and their orders; its products, coupons and rooms that nothing
    //    outside the run depends on.
    await c.query('CREATE TEMP TABLE run_users ON COMMIT DROP AS SELECT id FROM users WHERE run_tag = $1', [
      tag,
    ]);
    await c.query(
      `CREATE TEMP TABLE run_orders ON COMMIT DROP AS SELECT id FROM orders WHERE user_id IN (${RUN_USERS})`,
    );
    await c.query(
      `CREATE TEMP TABLE run_products ON COMMIT DROP AS
       SELECT p.id FROM products p WHERE p.run_tag = $1 AND NOT EXISTS (
         SELECT 1 FROM order_items i WHERE i.product_id = p.id AND i.order_id NOT IN (${RUN_ORDERS}))`,
      [tag],
    );
    await c.query(
      `CREATE TEMP TABLE run_coupons ON COMMIT DROP AS
       SELECT k.id FROM coupons k WHERE k.run_tag = $1 AND NOT EXISTS (
         SELECT 1 FROM user_coupons uc WHERE uc.coupon_id = k.id AND uc.user_id NOT IN (${RUN_USERS}))`,
      [tag],
    );
    await c.query(
      `CREATE TEMP TABLE run_rooms ON COMMIT DROP AS
       SELECT r.id FROM waiting_rooms r WHERE r.run_tag = $1
         AND NOT EXISTS (SELECT 1 FROM coupons k WHERE k.waiting_room_id = r.id AND k.id NOT IN (SELECT id FROM run_coupons))
         ${concerts ? 'AND NOT EXISTS (SELECT 1 FROM concerts x WHERE x.waiting_room_id = r.id)' : ''}`,
      [tag],
    );

    // 3. Give back what the run took from rows that stay: stock, coupon units (rows locked in id order).
    await c.query(
      `SELECT p.id FROM products p WHERE p.id IN (
         SELECT i.product_id FROM order_items i WHERE i.order_id IN (${RUN_ORDERS}))
         AND p.id NOT IN (SELECT id FROM run_products)
       ORDER BY p.id FOR UPDATE`,
    );
    const stock = await total(
      c,
      `WITH back AS (
         SELECT i.product_id, sum(i.quantity)::bigint AS q FROM order_items i
         WHERE i.order_id IN (${RUN_ORDERS}) AND i.product_id NOT IN (SELECT id FROM run_products)
         GROUP BY i.product_id
       ), upd AS (
         UPDATE products p SET stock = p.stock + back.q FROM back WHERE p.id = back.product_id RETURNING back.q
       )
       SELECT sum(q) AS n FROM upd`,
    );
    await c.query(
      `SELECT k.id FROM coupons k WHERE k.id IN (
         SELECT uc.coupon_id FROM user_coupons uc WHERE uc.user_id IN (${RUN_USERS}))
         AND k.id NOT IN (SELECT id FROM run_coupons)
       ORDER BY k.id FOR UPDATE`,
    );
    const couponUnits = await total(
      c,
      `WITH back AS (
         SELECT uc.coupon_id, count(*)::int AS n FROM user_coupons uc
         WHERE uc.user_id IN (${RUN_USERS}) AND uc.coupon_id NOT IN (SELECT id FROM run_coupons)
         GROUP BY uc.coupon_id
       ), upd AS (
         UPDATE coupons k SET issued_count = k.issued_count - back.n FROM back WHERE k.id = back.coupon_id RETURNING back.n
       )
       SELECT sum(n) AS n FROM upd`,
    );

    // 4. Delete, children before parents.
    const d: DeletedCounts = {
      users: 0,
      products: 0,
      coupons: 0,
      waitingRooms: 0,
      orders: 0,
      orderItems: await count(c, `DELETE FROM order_items WHERE order_id IN (${RUN_ORDERS})`),
      userCoupons: 0,
      pointLedger: 0,
      pointWallets: 0,
      idempotencyKeys: 0,
      notifications: 0,
      outbox: 0,
      waitingRoomEntries: 0,
      waitingRoomAdmissions: 0,
      seatReservations: 0,
      soldSeats: 0,
      chatRooms: 0,
      chatMembers: 0,
      chatMessages: 0,
    };
    d.orders = await count(c, `DELETE FROM orders WHERE id IN (${RUN_ORDERS})`);
    d.userCoupons = await count(c, `DELETE FROM user_coupons WHERE user_id IN (${RUN_USERS})`);
    d.pointLedger = await count(c, `DELETE FROM point_ledger WHERE user_id IN (${RUN_USERS})`);
    d.pointWallets = await count(c, `DELETE FROM point_wallets WHERE user_id IN (${RUN_USERS})`);
    d.idempotencyKeys = await count(c, `DELETE FROM idempotency_keys WHERE user_id IN (${RUN_USERS})`);
    // The outbox before notifications: a relay pass still delivering one of these events holds its
    // row, so waiting for it here means the notification it writes is seen (and deleted) next.
    d.outbox = await count(c, `DELETE FROM outbox WHERE user_id IN (${RUN_USERS})`);
    d.notifications = await count(c, `DELETE FROM notifications WHERE user_id IN (${RUN_USERS})`);

    let seats = 0;
    if (concerts) {
      await c.query(
        `CREATE TEMP TABLE run_reservations ON COMMIT DROP AS
         SELECT id FROM seat_reservations WHERE user_id IN (${RUN_USERS})`,
      );
      seats = await count(
        c,
        `UPDATE schedule_seats SET status = 'AVAILABLE', reservation_id = NULL, holder_id = NULL, hold_expires_at = NULL
         WHERE reservation_id IN (SELECT id FROM run_reservations)`,
      );
      d.soldSeats = await count(
        c,
        `DELETE FROM sold_seats WHERE reservation_id IN (SELECT id FROM run_reservations) OR user_id IN (${RUN_USERS})`,
      );
      d.seatReservations = await count(
        c,
        'DELETE FROM seat_reservations WHERE id IN (SELECT id FROM run_reservations)',
      );
    }

    // Chat: the rooms the run's users created go whole (members and messages); in other rooms the
    // run's users' memberships and messages go (their seqs become gaps in that room's history).
    d.chatMessages = await count(
      c,
      `DELETE FROM chat_messages WHERE user_id IN (${RUN_USERS})
         OR room_id IN (SELECT id FROM chat_rooms WHERE created_by IN (${RUN_USERS}))`,
    );
    d.chatMembers = await count(
      c,
      `DELETE FROM chat_members WHERE user_id IN (${RUN_USERS})
         OR room_id IN (SELECT id FROM chat_rooms WHERE created_by IN (${RUN_USERS}))`,
    );
    d.chatRooms = await count(c, `DELETE FROM chat_rooms WHERE created_by IN (${RUN_USERS})`);

    const { rows: removed } = await c.query<{ n: number; entries: { roomId: string; userId: string }[] }>(
      `WITH gone AS (
         DELETE FROM waiting_room_entries
         WHERE user_id IN (${RUN_USERS}) OR room_id IN (SELECT id FROM run_rooms)
         RETURNING room_id, user_id
       )
       SELECT count(*)::int AS n,
              coalesce(json_agg(json_build_object('roomId', room_id::text, 'userId', user_id::text))
                FILTER (WHERE room_id NOT IN (SELECT id FROM run_rooms)), '[]') AS entries
       FROM gone`,
    );
    d.waitingRoomEntries = removed[0].n;
    d.waitingRoomAdmissions = await count(
      c,
      `DELETE FROM waiting_room_admissions WHERE user_id IN (${RUN_USERS}) OR room_id IN (SELECT id FROM run_rooms)`,
    );
    d.coupons = await count(c, 'DELETE FROM coupons WHERE id IN (SELECT id FROM run_coupons)');
    d.products = await count(c, 'DELETE FROM products WHERE id IN (SELECT id FROM run_products)');
    const { rows: rooms } = await c.query<{ id: string }>(
      'DELETE FROM waiting_rooms WHERE id IN (SELECT id FROM run_rooms) RETURNING id::text AS id',
    );
    d.waitingRooms = rooms.length;
    d.users = await count(c, `DELETE FROM users WHERE id IN (${RUN_USERS})`);

    return {
      deleted: d,
      returned: { stock, couponUnits, seats },
      kept: {
        products: tagged.products - d.products,
        coupons: tagged.coupons - d.coupons,
        waitingRooms: tagged.waitingRooms - d.waitingRooms,
      },
      roomIds: rooms.map((r) => r.id),
      entries: removed[0].entries,
    };
  }
}
