/**
 * The concert audit, from outside the server, at least 1.1 s after the load (the seat map may be a
 * second old). Through the API: a hold without a pass (the probe user), every reservation the drill
 * was answered 201 for (GET /api/v1/reservations/:id with its user's token), the points of every user
 * who held, each schedule's seat map, then the schedules' availableSeats. After the load nobody
 * holds, so a seat only ever comes free (a hold expiring): a map read before the schedules bounds
 * what they may say.
 *
 * Checks through the API (names are stable):
 *   passless_hold_refused  a hold without a pass is 403 NOT_ADMITTED
 *   reservations_readable  every 201 reads back (same schedule, same seats)
 *   paid_reads_paid        every 200 on pay reads PAID, with its seats and total
 *   unpaid_holds_unpaid    no hold the drill did not pay reads PAID; every released one reads CANCELLED
 *   no_seat_sold_twice     no seat is in two reservations that read PAID
 *   seats_accounted        per schedule the map lists seats 1..seatCount once each (sold + held +
 *                          available = seatCount) and availableSeats lies in [available, available + held]
 *   paid_seats_sold        every seat of a 200 is SOLD on the map
 *   sold_matches_paid      SOLD seats on the maps = the seats of the 200s (pays without an answer widen it)
 *   points_balance         every holder's balance = the charge − what their 200 took
 * With the target's database (embedded mode, or --database-url), from one snapshot
 * (readConcertSnapshot) and the wallets of the whole database (readCommerceFacts):
 *   db_no_seat_sold_twice  no seat with two sold_seats rows, none in two PAID reservations
 *   db_seats_accounted     per schedule: seatCount seat rows numbered 1..seatCount; sold + held (live) +
 *                          available = seatCount; SOLD rows = sold_seats rows = seats of PAID
 *                          reservations; live HELD rows = seats of live HELD reservations
 *   db_sold_matches_api    each schedule's SOLD seats are the ones its seat map showed
 *   db_paid_are_sold       every 200 on pay is a PAID reservation with a sold_seats row per seat
 *   db_no_late_payment     no reservation paid after its expiry (paid_at ≤ expires_at)
 *   db_holds_had_pass      every reservation's user was admitted in the room before holding, and held
 *                          while the pass was live (waiting_room_admissions)
 *   db_payments_in_ledger  every PAID reservation took its total in exactly one USE ledger row
 *                          (ref reservation:<id>); no other reservation took anything
 *   db_wallets_match_ledger every wallet = the sum of its ledger (whole database)
 * The seats are assumed to be bought only by this drill's users (true on a drill's own server).
 * The rules themselves are pure functions in concert-audit-rules.ts; this file reads.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { type AuditResult, auditDatabase, verdictOf } from '../audit.js';
import { readCommerceFacts, readConcertSnapshot, withDatabase } from '../audit-queries.js';
import { mapLimit } from '../concurrency.js';
import { asArray, asObject, int, str } from '../shape.js';
import {
  concertApiChecks,
  concertDatabaseChecks,
  type ReservationRead,
  type SeatMapRead,
} from './concert-audit-rules.js';
import type { ConcertObservations, DrillHold } from './concert-types.js';
import type { AuditContext } from './types.js';

/** The seat map may be a second old: the audit reads at least this long after the load. */
const MAP_LAG_MS = 1_100;

async function readReservation(
  ctx: AuditContext,
  o: ConcertObservations,
  h: DrillHold,
): Promise<ReservationRead> {
  const res = await ctx.api.call('GET', `/api/v1/reservations/${encodeURIComponent(h.reservationId)}`, {
    token: o.users.tokens[h.user],
  });
  if (res.status !== 200) return { error: `GET answered ${res.status}${res.code ? ` ${res.code}` : ''}` };
  try {
    const r = asObject(res.json, 'reservation');
    return {
      status: str(r, 'status', 'reservation'),
      scheduleId: str(r, 'scheduleId', 'reservation'),
      seats: asArray(r.seats, 'reservation.seats').map(Number),
      total: int(r, 'total', 'reservation'),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

export async function readSeatMap(api: AuditContext['api'], scheduleId: string): Promise<SeatMapRead> {
  const res = await api.call('GET', `/api/v1/schedules/${encodeURIComponent(scheduleId)}/seats`);
  if (res.status !== 200) return { error: `GET seats answered ${res.status}` };
  try {
    const numbers: number[] = [];
    const sold = new Set<number>();
    let held = 0;
    let available = 0;
    for (const it of asArray(asObject(res.json, 'seat map').items, 'seat map.items')) {
      const seat = asObject(it, 'seat');
      const n = int(seat, 'number', 'seat');
      numbers.push(n);
      const status = str(seat, 'status', 'seat');
      if (status === 'SOLD') sold.add(n);
      else if (status === 'HELD') held++;
      else if (status === 'AVAILABLE') available++;
    }
    return { numbers: numbers.sort((a, b) => a - b), sold, held, available };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function readAvailability(ctx: AuditContext, concertId: string): Promise<Map<string, number | null>> {
  const res = await ctx.api.call('GET', `/api/v1/concerts/${encodeURIComponent(concertId)}/schedules`);
  const out = new Map<string, number | null>();
  if (res.status !== 200) return out;
  try {
    for (const it of asArray(asObject(res.json, 'schedules').items, 'schedules.items')) {
      const s = asObject(it, 'schedule');
      out.set(str(s, 'id', 'schedule'), int(s, 'availableSeats', 'schedule'));
    }
  } catch {
    // unreadable: every schedule counts as not read
  }
  return out;
}

async function readBalance(ctx: AuditContext, token: string): Promise<number | null> {
  const res = await ctx.api.call('GET', '/api/v1/me/points', { token });
  if (res.status !== 200) return null;
  try {
    return int(asObject(res.json, 'me/points'), 'balance', 'me/points');
  } catch {
    return null;
  }
}

export async function auditConcert(ctx: AuditContext, o: ConcertObservations): Promise<AuditResult> {
  const wait = MAP_LAG_MS - (performance.now() - ctx.loadEndedAt);
  if (wait > 0) await sleepMs(wait);
  const holders = [...new Set(o.holds.map((h) => h.user))];
  ctx.log(
    `audit: reading ${o.holds.length} reservations, the points of ${holders.length} users and ${o.schedules.length} seat maps`,
  );
  const first = o.schedules[0];
  const probe = await ctx.api.call('POST', '/api/v1/reservations', {
    token: o.probe.token,
    body: { scheduleId: first.id, seats: [1] },
  });
  const reservations = await mapLimit(o.holds, 32, (h) => readReservation(ctx, o, h));
  const balances = await mapLimit(holders, 32, (u) => readBalance(ctx, o.users.tokens[u]));
  const maps = new Map<string, SeatMapRead>();
  for (const s of o.schedules) maps.set(s.id, await readSeatMap(ctx.api, s.id));
  const availableAfter = await readAvailability(ctx, o.concertId);

  const api = concertApiChecks(o, {
    probe: { status: probe.status, code: probe.code },
    reservations,
    balances: new Map(holders.map((u, i) => [u, balances[i]])),
    maps,
    availableAfter,
  });
  const checks = api.checks;
  const facts: AuditResult['facts'] = {
    usersJoined: o.joined.reduce((n, x) => n + x, 0),
    usersAdmitted: o.admitted.reduce((n, x) => n + x, 0),
    usersLostPlace: o.lost.reduce((n, x) => n + x, 0),
    holdsUnanswered: o.holdUnknown.reduce((n, x) => n + x, 0),
    ...api.facts,
  };
  const notes = ["The concert's seats are assumed to be bought only by this drill's users."];

  await auditDatabase(
    ctx.databaseUrl,
    { checks, notes },
    async (url) => {
      ctx.log('audit: reading seats, reservations, sales, ledgers and admissions in PostgreSQL');
      const [snap, commerce] = await withDatabase(
        url,
        async (db) =>
          [
            await readConcertSnapshot(
              db,
              o.schedules.map((s) => s.id),
              o.roomId,
            ),
            // Only its wallet count is used here: every wallet of the database against its ledger.
            await readCommerceFacts(db, new Map()),
          ] as const,
        'stampede-drill-audit',
      );
      const mapSold = new Map([...maps].map(([id, m]) => [id, 'error' in m ? null : m.sold.size]));
      const db = concertDatabaseChecks(snap, {
        schedules: o.schedules,
        paid: o.holds.filter((h) => h.fate === 'paid'),
        mapSold,
        walletsOff: commerce.walletsOff,
      });
      checks.push(...db.checks);
      Object.assign(facts, db.facts);
    },
    'PostgreSQL not audited (no --database-url; automatic only in embedded mode): seats, sales, ledgers and passes were not read from the database.',
  );
  return { verdict: verdictOf(checks), checks, facts, notes };
}
