/**
 * The concert audit's rules: pure judgements of what the API answered after the run (a
 * ConcertApiView) and of one PostgreSQL snapshot (a ConcertSnapshot), against what the drill saw.
 * They read nothing, so tests judge hand-built views and tampered databases with the same code
 * the drill runs. concert-audit.ts reads the views; it lists every check and what it means.
 */
import { type AuditCheck, type AuditResult, check } from '../audit.js';
import type { ConcertSnapshot, SeatReservationRow } from '../audit-queries.js';
import type { ConcertObservations, DrillHold } from './concert-types.js';

/**
 * A pass is checked (the server's clock) before the hold joins its group commit, whose created_at
 * is PostgreSQL's now(): a hold checked just before its pass expired may be stamped just after.
 */
export const PASS_SLACK_MS = 1_000;

/** A reservation as GET /api/v1/reservations/:id answered it, or why it could not be read. */
export type ReservationRead =
  | { status: string; scheduleId: string; seats: number[]; total: number }
  | { error: string };

/** A seat map as GET /api/v1/schedules/:id/seats answered it, or why it could not be read. */
export type SeatMapRead =
  | { numbers: number[]; sold: ReadonlySet<number>; held: number; available: number }
  | { error: string };

/** Everything the audit read through the API. */
export interface ConcertApiView {
  probe: { status: number; code: string | null };
  /** One per hold, in the order of `holds`. */
  reservations: ReservationRead[];
  /** Balance of each user who held (by user index); null when unreadable. */
  balances: ReadonlyMap<number, number | null>;
  /** Per schedule id: its seat map, then its availableSeats read after the map (null: unreadable). */
  maps: ReadonlyMap<string, SeatMapRead>;
  availableAfter: ReadonlyMap<string, number | null>;
}

/** What the API judgement needs of a run's observations. */
export type ConcertRecord = Pick<ConcertObservations, 'holds' | 'charge' | 'schedules' | 'users'>;

/** What the PostgreSQL judgement needs besides the snapshot. */
export interface ConcertDatabaseInput {
  schedules: readonly { id: string; seatCount: number }[];
  /** The reservations answered 200 on pay. */
  paid: readonly Pick<DrillHold, 'reservationId' | 'scheduleId' | 'seats' | 'total'>[];
  /** SOLD seats per schedule on the seat maps the API showed; null when a map was unreadable. */
  mapSold: ReadonlyMap<string, number | null>;
  /** Wallets of the whole database whose balance is not the sum of their ledger. */
  walletsOff: number;
}

type Judged = { checks: AuditCheck[]; facts: AuditResult['facts'] };

/** How many broke a rule, and the first of them in words. */
class Offenders {
  count = 0;
  first = '';
  add(describe: () => string, n = 1): void {
    if (this.count === 0) this.first = describe();
    this.count += n;
  }
  /** `first: …` when someone broke the rule, else `fine`. */
  detail(fine: string, prefix = 'first: '): string {
    return this.count ? `${prefix}${this.first}` : fine;
  }
}

const seatKey = (scheduleId: string, seat: number) => `${scheduleId}#${seat}`;
const seatsText = (seats: readonly number[]) => seats.join(',');
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** Seats in more than one of `reservations` (each with a schedule, seats and an id). */
function seatsSoldTwice(
  reservations: readonly { id: string; scheduleId: string; seats: readonly number[] }[],
): Offenders {
  const owner = new Map<string, string>();
  const twice = new Offenders();
  for (const r of reservations) {
    for (const n of r.seats) {
      const other = owner.get(seatKey(r.scheduleId, n));
      if (other)
        twice.add(() => `seat ${n} of schedule ${r.scheduleId} is in reservations ${other} and ${r.id}`);
      else owner.set(seatKey(r.scheduleId, n), r.id);
    }
  }
  return twice;
}

// ---- through the API ------------------------------------------------------------------------

/** Each hold read back: readable, PAID when paid, never PAID when not; and who reads PAID. */
function judgeReadBacks(o: ConcertRecord, v: ConcertApiView) {
  const unreadable = new Offenders();
  const paidWrong = new Offenders();
  const unpaidWrong = new Offenders();
  const readPaid: { id: string; scheduleId: string; seats: number[] }[] = [];
  o.holds.forEach((h, i) => {
    const r = v.reservations[i];
    if ('error' in r || r.scheduleId !== h.scheduleId || seatsText(r.seats) !== seatsText(h.seats)) {
      unreadable.add(
        () =>
          `reservation ${h.reservationId}: ${'error' in r ? r.error : `reads schedule ${r.scheduleId} seats ${seatsText(r.seats)}`}`,
      );
      return;
    }
    if (h.fate === 'paid' && (r.status !== 'PAID' || r.total !== h.total))
      paidWrong.add(
        () => `reservation ${h.reservationId} reads ${r.status}, total ${r.total} (paid ${h.total})`,
      );
    const unpaid = h.fate !== 'paid' && h.fate !== 'pay-unknown';
    if ((unpaid && r.status === 'PAID') || (h.fate === 'cancelled' && r.status !== 'CANCELLED'))
      unpaidWrong.add(() => `reservation ${h.reservationId} (${h.fate}) reads ${r.status}`);
    if (r.status === 'PAID') readPaid.push({ id: h.reservationId, scheduleId: r.scheduleId, seats: r.seats });
  });
  return { unreadable, paidWrong, unpaidWrong, soldTwice: seatsSoldTwice(readPaid) };
}

/** Each seat map complete, and availableSeats (read after it) within what can have come free since. */
function judgeMaps(o: ConcertRecord, v: ConcertApiView) {
  const off = new Offenders();
  const totals = { mapSold: 0, mapHeld: 0, mapAvailable: 0 };
  for (const s of o.schedules) {
    const m = v.maps.get(s.id);
    if (!m || 'error' in m) {
      off.add(() => `schedule ${s.id}: ${m ? m.error : 'not read'}`);
      continue;
    }
    totals.mapSold += m.sold.size;
    totals.mapHeld += m.held;
    totals.mapAvailable += m.available;
    const after = v.availableAfter.get(s.id) ?? null;
    const complete =
      m.numbers.length === s.seatCount &&
      m.numbers.every((n, i) => n === i + 1) &&
      m.sold.size + m.held + m.available === s.seatCount;
    if (!complete)
      off.add(
        () =>
          `schedule ${s.id}: the map lists ${m.numbers.length} seats (${m.sold.size} sold + ${m.held} held + ${m.available} available) of ${s.seatCount}`,
      );
    else if (after === null || after < m.available || after > m.available + m.held)
      off.add(
        () =>
          `schedule ${s.id}: availableSeats ${after ?? 'unreadable'}, the map ${m.available} available + ${m.held} held`,
      );
  }
  return { off, ...totals };
}

/** Seats of the 200s that their map does not show SOLD. */
function judgePaidOnMaps(paid: readonly DrillHold[], v: ConcertApiView): Offenders {
  const notSold = new Offenders();
  for (const h of paid) {
    const m = v.maps.get(h.scheduleId);
    const missing = m && !('error' in m) ? h.seats.filter((n) => !m.sold.has(n)) : h.seats;
    if (missing.length)
      notSold.add(
        () =>
          `reservation ${h.reservationId}: seat ${seatsText(missing)} of schedule ${h.scheduleId} is not SOLD on the map`,
        missing.length,
      );
  }
  return notSold;
}

/** Every holder's balance against the charge minus what their 200s took (unknown pays skipped). */
function judgeBalances(o: ConcertRecord, v: ConcertApiView) {
  const spent = new Map<number, number>();
  const unknown = new Set<number>();
  for (const h of o.holds) {
    if (h.fate === 'paid') spent.set(h.user, (spent.get(h.user) ?? 0) + h.total);
    if (h.fate === 'pay-unknown') unknown.add(h.user);
  }
  const wrong = new Offenders();
  let checked = 0;
  for (const [u, balance] of v.balances) {
    if (unknown.has(u)) continue;
    checked++;
    const expected = o.charge - (spent.get(u) ?? 0);
    if (balance !== expected)
      wrong.add(
        () =>
          `user ${o.users.ids[u]}: balance ${balance ?? 'unreadable'}, charged ${o.charge} − paid ${spent.get(u) ?? 0} = ${expected}`,
      );
  }
  return { wrong, checked, unknownPays: unknown.size };
}

/** The API checks of a concert run, from what the drill saw and what the API answered afterwards. */
export function concertApiChecks(o: ConcertRecord, v: ConcertApiView): Judged {
  const paid = o.holds.filter((h) => h.fate === 'paid');
  const paidSeats = sum(paid.map((h) => h.seats.length));
  const unknownSeats = sum(o.holds.filter((h) => h.fate === 'pay-unknown').map((h) => h.seats.length));
  const rb = judgeReadBacks(o, v);
  const maps = judgeMaps(o, v);
  const notSold = judgePaidOnMaps(paid, v);
  const points = judgeBalances(o, v);
  const checks = [
    check(
      'passless_hold_refused',
      v.probe.status === 403 && v.probe.code === 'NOT_ADMITTED',
      '403 NOT_ADMITTED',
      `${v.probe.status} ${v.probe.code ?? ''}`.trim(),
      'a user who never waited in the room cannot hold a seat',
    ),
    check(
      'reservations_readable',
      rb.unreadable.count === 0,
      `${o.holds.length} reservations`,
      `${o.holds.length - rb.unreadable.count} read back`,
      rb.unreadable.detail('every 201 reads back with its schedule and seats'),
    ),
    check(
      'paid_reads_paid',
      rb.paidWrong.count === 0,
      `${paid.length} PAID`,
      `${paid.length - rb.paidWrong.count} PAID`,
      rb.paidWrong.detail('every 200 on pay is durable: the reservation reads PAID with its total'),
    ),
    check(
      'unpaid_holds_unpaid',
      rb.unpaidWrong.count === 0,
      0,
      rb.unpaidWrong.count,
      rb.unpaidWrong.detail(
        'no hold the drill did not pay reads PAID; every released hold reads CANCELLED',
        'holds abandoned or refused that read PAID (or released ones that are not CANCELLED); first: ',
      ),
    ),
    check(
      'no_seat_sold_twice',
      rb.soldTwice.count === 0,
      0,
      rb.soldTwice.count,
      rb.soldTwice.detail('no seat is in two reservations that read PAID'),
    ),
    check(
      'seats_accounted',
      maps.off.count === 0,
      `${o.schedules.length} schedules: sold + held + available = seatCount`,
      `${maps.off.count} differ`,
      maps.off.detail(
        'each seat map lists every seat once, and availableSeats agrees with it (holds only expire after the load)',
      ),
    ),
    check(
      'paid_seats_sold',
      notSold.count === 0,
      `${paidSeats} seats SOLD`,
      `${paidSeats - notSold.count} SOLD`,
      notSold.detail('every seat of a 200 on pay is SOLD on its seat map'),
    ),
    check(
      'sold_matches_paid',
      maps.mapSold >= paidSeats && maps.mapSold <= paidSeats + unknownSeats,
      unknownSeats ? `${paidSeats}..${paidSeats + unknownSeats} seats` : `${paidSeats} seats`,
      `${maps.mapSold} SOLD on the maps`,
      'seats SOLD on the maps = the seats the drill was answered 200 for (pays without an answer widen the range)',
    ),
    check(
      'points_balance',
      points.wrong.count === 0,
      `balance = charge − paid for ${points.checked} users`,
      `${points.wrong.count} differ`,
      points.wrong.detail('no point lost or created'),
    ),
  ];
  return {
    checks,
    facts: {
      holds: o.holds.length,
      answered200: paid.length,
      seatsPaid: paidSeats,
      paysUnanswered: points.unknownPays,
      mapSold: maps.mapSold,
      mapHeld: maps.mapHeld,
      mapAvailable: maps.mapAvailable,
    },
  };
}

// ---- from PostgreSQL ------------------------------------------------------------------------

/** Per reservation: paid in time, charged exactly once (if paid), held with a live pass. */
function judgeReservations(snap: ConcertSnapshot) {
  const late = new Offenders();
  const ledgerOff = new Offenders();
  const withoutPass = new Offenders();
  const admissionsOf = new Map<string, ConcertSnapshot['admissions']>();
  for (const a of snap.admissions) admissionsOf.set(a.userId, [...(admissionsOf.get(a.userId) ?? []), a]);
  for (const r of snap.reservations) {
    if (r.status === 'PAID' && (r.paidAt === null || r.paidAt > r.expiresAt))
      late.add(
        () =>
          `reservation ${r.id} paid at ${r.paidAt === null ? 'no time' : new Date(r.paidAt).toISOString()}, expired at ${new Date(r.expiresAt).toISOString()}`,
      );
    const charged =
      r.status === 'PAID' ? r.ledgerUses === 1 && r.ledgerTaken === r.total : r.ledgerUses === 0;
    if (!charged)
      ledgerOff.add(
        () =>
          `reservation ${r.id} (${r.status}, total ${r.total}): ${r.ledgerUses} USE rows taking ${r.ledgerTaken}`,
      );
    const admissions = admissionsOf.get(r.userId) ?? [];
    const passed = admissions.some(
      (a) => a.admittedAt <= r.createdAt && r.createdAt <= a.passExpiresAt + PASS_SLACK_MS,
    );
    if (!passed)
      withoutPass.add(
        () =>
          `reservation ${r.id} of user ${r.userId}, held at ${new Date(r.createdAt).toISOString()}: ${
            admissions.length ? 'not within a pass of the room' : 'never admitted in the room'
          }`,
      );
  }
  return { late, ledgerOff, withoutPass };
}

/** Seats of the given reservations per schedule. */
function seatsBySchedule(reservations: readonly SeatReservationRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of reservations) out.set(r.scheduleId, (out.get(r.scheduleId) ?? 0) + r.seats.length);
  return out;
}

/** Per schedule: its seat rows, states, sales and reservations agree; and its SOLD seats are the map's. */
function judgeSchedules(snap: ConcertSnapshot, input: ConcertDatabaseInput) {
  const bySchedule = new Map(snap.schedules.map((s) => [s.scheduleId, s]));
  const paidSeats = seatsBySchedule(snap.reservations.filter((r) => r.status === 'PAID'));
  const liveHeld = seatsBySchedule(
    snap.reservations.filter((r) => r.status === 'HELD' && r.expiresAt > snap.takenAt),
  );
  const off = new Offenders();
  const soldDiffer = new Offenders();
  let soldCompared = 0;
  let soldTwice = 0;
  for (const s of input.schedules) {
    const f = bySchedule.get(s.id);
    if (!f) {
      off.add(() => `schedule ${s.id} is not in concert_schedules`);
      continue;
    }
    soldTwice += f.soldTwice;
    const paid = paidSeats.get(s.id) ?? 0;
    const held = liveHeld.get(s.id) ?? 0;
    const wrong: string[] = [];
    if (f.seatCount !== s.seatCount || f.seatRows !== s.seatCount || f.maxSeat !== s.seatCount)
      wrong.push(`${f.seatRows} seat rows up to seat ${f.maxSeat} for seatCount ${f.seatCount}`);
    if (f.sold + f.heldLive + f.available !== f.seatCount)
      wrong.push(`${f.sold} sold + ${f.heldLive} held + ${f.available} available ≠ ${f.seatCount}`);
    if (f.sold !== f.soldRows || f.sold !== paid)
      wrong.push(`${f.sold} seats SOLD, ${f.soldRows} sold_seats rows, ${paid} seats in PAID reservations`);
    if (f.heldLive !== held)
      wrong.push(`${f.heldLive} seats under a live hold, ${held} in live HELD reservations`);
    if (wrong.length) off.add(() => `schedule ${s.id}: ${wrong.join('; ')}`);
    const shown = input.mapSold.get(s.id) ?? null;
    if (shown === null) continue;
    soldCompared++;
    if (shown !== f.sold)
      soldDiffer.add(() => `schedule ${s.id}: ${f.sold} SOLD in schedule_seats, ${shown} on the seat map`);
  }
  return { off, soldDiffer, soldCompared, soldTwice };
}

/** The 200s the database does not hold as PAID with a sold_seats row per seat. */
function judgePaidInDatabase(snap: ConcertSnapshot, input: ConcertDatabaseInput): Offenders {
  const byId = new Map(snap.reservations.map((r) => [r.id, r]));
  const unsold = new Offenders();
  for (const p of input.paid) {
    const r = byId.get(p.reservationId);
    const sold =
      r?.status === 'PAID' && seatsText(r.seats) === seatsText(p.seats) && r.soldRows === p.seats.length;
    if (!sold)
      unsold.add(() =>
        r
          ? `reservation ${p.reservationId} is ${r.status} with ${r.soldRows} sold_seats rows for seats ${seatsText(r.seats)}`
          : `reservation ${p.reservationId} is not in seat_reservations`,
      );
  }
  return unsold;
}

/** The PostgreSQL checks of a concert run, from one snapshot and what the API showed. */
export function concertDatabaseChecks(snap: ConcertSnapshot, input: ConcertDatabaseInput): Judged {
  const paidRows = snap.reservations.filter((r) => r.status === 'PAID');
  const coveredTwice = seatsSoldTwice(paidRows);
  const res = judgeReservations(snap);
  const sch = judgeSchedules(snap, input);
  const unsold = judgePaidInDatabase(snap, input);
  const checks = [
    check(
      'db_no_seat_sold_twice',
      sch.soldTwice === 0 && coveredTwice.count === 0,
      0,
      `${sch.soldTwice} seats with two sold_seats rows, ${coveredTwice.count} in two PAID reservations`,
      coveredTwice.detail('sold_seats and the PAID reservations sell each seat at most once'),
      'database',
    ),
    check(
      'db_seats_accounted',
      sch.off.count === 0,
      `${input.schedules.length} schedules: sold + held + available = seatCount, sold = paid`,
      `${sch.off.count} differ`,
      sch.off.detail(
        'schedule_seats, sold_seats and seat_reservations agree on every seat of every schedule',
      ),
      'database',
    ),
    check(
      'db_sold_matches_api',
      sch.soldDiffer.count === 0,
      `${sch.soldCompared} schedules: the SOLD seats of their map`,
      `${sch.soldDiffer.count} differ`,
      sch.soldDiffer.detail('PostgreSQL sold exactly the seats the seat maps showed SOLD'),
      'database',
    ),
    check(
      'db_paid_are_sold',
      unsold.count === 0,
      `${input.paid.length} reservations PAID with their seats sold`,
      `${input.paid.length - unsold.count}`,
      unsold.detail('every 200 on pay is a PAID reservation with a sold_seats row per seat'),
      'database',
    ),
    check(
      'db_no_late_payment',
      res.late.count === 0,
      0,
      res.late.count,
      res.late.detail(
        'every PAID reservation was paid at or before its expires_at',
        'paid after the hold expired; first: ',
      ),
      'database',
    ),
    check(
      'db_holds_had_pass',
      res.withoutPass.count === 0,
      0,
      res.withoutPass.count,
      res.withoutPass.detail(
        'every reservation was made by a user admitted in the room, while the pass was live',
        'reservations without a live pass; first: ',
      ),
      'database',
    ),
    check(
      'db_payments_in_ledger',
      res.ledgerOff.count === 0,
      0,
      res.ledgerOff.count,
      res.ledgerOff.detail(
        'each PAID reservation took its total in one USE ledger row; no other reservation took points',
      ),
      'database',
    ),
    check(
      'db_wallets_match_ledger',
      input.walletsOff === 0,
      0,
      input.walletsOff,
      'wallets whose balance is not the sum of their point_ledger rows (every wallet in the database)',
      'database',
    ),
  ];
  return {
    checks,
    facts: {
      dbReservations: snap.reservations.length,
      dbPaidReservations: paidRows.length,
      dbSoldSeats: sum(snap.schedules.map((s) => s.sold)),
      dbHeldSeats: sum(snap.schedules.map((s) => s.heldLive)),
      dbAvailableSeats: sum(snap.schedules.map((s) => s.available)),
      dbWalletsOff: input.walletsOff,
    },
  };
}
