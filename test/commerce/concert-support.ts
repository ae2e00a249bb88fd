/**
 * Helpers for the concert suites, on top of the commerce ones: create a concert, hold, pay, cancel,
 * and the PostgreSQL audits of the seat invariants.
 */
import { request } from 'undici';
import { ADMIN_TOKEN, type Env, post, type Res } from './support.js';

export interface Concert {
  id: string;
  waitingRoomId: string | null;
  schedules: { id: string; seatCount: number; price: number }[];
}

/** Any method, any headers; a 503 is returned as is (nothing was done). */
export async function send(
  env: Env,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  opts: { token?: string; body?: unknown; headers?: Record<string, string>; base?: string } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${opts.base ?? env.server.url}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    dispatcher: env.agent,
  });
  const text = await res.body.text();
  const json = /json/.test(String(res.headers['content-type'] ?? ''));
  return {
    status: res.statusCode,
    headers: res.headers,
    body: text && json ? JSON.parse(text) : text || null,
  };
}

export async function createConcert(
  env: Env,
  schedules: { seatCount?: number; price: number; startsAt?: string }[],
  extra: Record<string, unknown> = {},
): Promise<Concert> {
  const res = await post(env, '/api/v1/admin/concerts', ADMIN_TOKEN, {
    name: 'test concert',
    schedules: schedules.map((s) => ({ startsAt: '2030-06-01T19:00:00Z', ...s })),
    ...extra,
  });
  if (res.status !== 201) throw new Error(`create concert: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as Concert;
}

export function hold(
  env: Env,
  token: string,
  scheduleId: string,
  seats: number[],
  headers: Record<string, string> = {},
  base?: string,
): Promise<Res> {
  return send(env, 'POST', '/api/v1/reservations', { token, body: { scheduleId, seats }, headers, base });
}

export function pay(
  env: Env,
  token: string,
  reservationId: string,
  headers: Record<string, string> = {},
  base?: string,
): Promise<Res> {
  return send(env, 'POST', `/api/v1/reservations/${reservationId}/pay`, { token, headers, base });
}

/**
 * Every seat invariant, read from PostgreSQL in one snapshot. Each count must be 0:
 *   doubleSold      seats sold twice (impossible while sold_seats_once holds; checked anyway)
 *   soldNotSeat     sold_seats rows whose seat row is not SOLD to that reservation
 *   liveOverlap     seats claimed by two reservations that are both live (HELD, not expired) or PAID
 *   paidLate        PAID reservations paid at or after their expiry
 *   ledgerMissing   PAID reservations with a positive total and no USE ledger row naming them
 */
export async function seatAudit(env: Pick<Env, 'sql'>): Promise<Record<string, number>> {
  const { rows } = await env.sql.query<Record<string, number>>(`
    SELECT
      (SELECT count(*)::int FROM (SELECT 1 FROM sold_seats GROUP BY schedule_id, seat_number HAVING count(*) > 1) d) AS "doubleSold",
      (SELECT count(*)::int FROM sold_seats so LEFT JOIN schedule_seats ss
         ON ss.schedule_id = so.schedule_id AND ss.seat_number = so.seat_number
         WHERE ss.status IS DISTINCT FROM 'SOLD' OR ss.reservation_id IS DISTINCT FROM so.reservation_id) AS "soldNotSeat",
      (SELECT count(*)::int FROM (
         SELECT r.schedule_id, s FROM seat_reservations r, unnest(r.seats) s
         WHERE r.status = 'PAID' OR (r.status = 'HELD' AND r.expires_at > now())
         GROUP BY r.schedule_id, s HAVING count(*) > 1) o) AS "liveOverlap",
      (SELECT count(*)::int FROM seat_reservations WHERE status = 'PAID' AND paid_at >= expires_at) AS "paidLate",
      (SELECT count(*)::int FROM seat_reservations r WHERE r.status = 'PAID' AND r.total > 0 AND NOT EXISTS (
         SELECT 1 FROM point_ledger l WHERE l.type = 'USE' AND l.ref = 'reservation:' || r.id
           AND l.amount = -r.total AND l.user_id = r.user_id)) AS "ledgerMissing"
  `);
  return rows[0];
}

export const NO_VIOLATIONS = { doubleSold: 0, soldNotSeat: 0, liveOverlap: 0, paidLate: 0, ledgerMissing: 0 };

/**
 * After a test moved holds' expiries in PostgreSQL directly, the seat gates (which copied the old
 * expiries) are reloaded from PostgreSQL, as their periodic refresh would do within seconds.
 */
export async function refreshGates(
  env: Env,
  ...others: { runtime: Env['server']['runtime'] }[]
): Promise<void> {
  for (const s of [env.server, ...others]) await s.runtime.services.concerts.refreshGates();
}

export function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}
