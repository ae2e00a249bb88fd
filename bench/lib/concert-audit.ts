/**
 * The concert benchmark's audit, against PostgreSQL once a scenario's load stopped, over the
 * schedules that scenario used. A benchmark that holds or sells a seat twice, or acknowledges what
 * was not committed, is not a result, so each run is judged on:
 *   - the seat invariants: no seat sold twice, no seat under two live-or-paid reservations, seat
 *     rows that agree with the reservations (SOLD = sold_seats = seats of PAID reservations, live
 *     HELD = seats of live holds), no payment at or after its expiry, exactly one USE ledger row
 *     taking its total for every paid reservation;
 *   - what the load saw: every 201 hold is a reservation of that user with those seats, live
 *     (HELD before its expiry) or PAID; every 200 pay is PAID with each of its seats sold to it;
 *   - what the load did not see: reservations (and payments) without an answer are allowed only
 *     for requests still in flight when the load tool stopped (autocannon drops those answers),
 *     and only as many as there were.
 * The facts come from the drill's readConcertSnapshot (one REPEATABLE READ snapshot); the rules
 * here are the benchmark's own, as in bench/lib/coupon-audit.ts.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import type pg from 'pg';
import {
  type ConcertSnapshot,
  readConcertSnapshot,
  type SeatReservationRow,
  withDatabase,
} from '../../src/drill/audit-queries.js';
import { fmt } from './format.js';

/** No waiting room stands in front of the benchmark's concerts: this id names none. */
const NO_ROOM = '0';

/** One 201 hold the load saw. */
export interface SeenHold {
  reservationId: string;
  userId: string;
  seats: readonly number[];
}

export interface SeatRunSeen {
  /** Every 201 hold answer, once per answer. */
  held: readonly SeenHold[];
  /** Reservation ids answered 200 on pay, once per answer. */
  paid: readonly string[];
  /** User ids of hold requests that were unanswered when the load stopped. */
  inflightHolders: readonly string[];
  /** Reservation ids of pay requests that were unanswered when the load stopped. */
  inflightPays: readonly string[];
}

/** Seat invariants over the schedules; each must be 0. */
interface SeatViolations {
  /** Seats with two sold_seats rows. */
  soldTwice: number;
  /** Seats under two reservations that are live (HELD before expiry) or PAID. */
  liveOverlap: number;
  /** Schedules whose seat rows disagree with their sales or their reservations. */
  seatRowsOff: number;
  /** PAID reservations paid at or after their expiry. */
  paidLate: number;
  /** PAID reservations without exactly one USE row taking their total, or others that took points. */
  ledgerOff: number;
}

export interface SeatRunAudit {
  ok: boolean;
  reservations: number;
  paidReservations: number;
  seatsOffered: number;
  seatsHeld: number;
  seatsSold: number;
  violations: SeatViolations;
  /** 201s with no matching live-or-paid reservation of that user and those seats. */
  holdsMissing: number;
  /** 200s whose reservation is not PAID with every seat sold to it. */
  paysUnsold: number;
  /** Reservations / payments nobody saw, beyond what in-flight requests explain. */
  unexplainedHolds: number;
  unexplainedPays: number;
  /** The same reservation id answered 201 twice, or paid 200 twice. */
  twice: number;
  text: string;
}

/** A HELD reservation before its expiry, as of the snapshot, or a PAID one. */
const liveOrPaid = (r: SeatReservationRow, at: number) =>
  r.status === 'PAID' || (r.status === 'HELD' && r.expiresAt > at);

/** Seats (schedule, number) named by more than one of `rows`. */
function seatsTwice(rows: readonly SeatReservationRow[]): number {
  const seen = new Set<string>();
  let twice = 0;
  for (const r of rows)
    for (const s of r.seats) {
      const k = `${r.scheduleId}:${s}`;
      if (seen.has(k)) twice++;
      else seen.add(k);
    }
  return twice;
}

/** Seats of `rows` per schedule. */
function seatsBySchedule(rows: readonly SeatReservationRow[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) out.set(r.scheduleId, (out.get(r.scheduleId) ?? 0) + r.seats.length);
  return out;
}

function violationsOf(snap: ConcertSnapshot): SeatViolations {
  const at = snap.takenAt;
  const paid = snap.reservations.filter((r) => r.status === 'PAID');
  const heldLive = snap.reservations.filter((r) => r.status === 'HELD' && r.expiresAt > at);
  const paidSeats = seatsBySchedule(paid);
  const heldSeats = seatsBySchedule(heldLive);
  return {
    soldTwice: snap.schedules.reduce((n, s) => n + s.soldTwice, 0),
    liveOverlap: seatsTwice(snap.reservations.filter((r) => liveOrPaid(r, at))),
    seatRowsOff: snap.schedules.filter(
      (s) =>
        s.sold !== s.soldRows ||
        s.sold !== (paidSeats.get(s.scheduleId) ?? 0) ||
        s.heldLive !== (heldSeats.get(s.scheduleId) ?? 0),
    ).length,
    paidLate: paid.filter((r) => r.paidAt !== null && r.paidAt >= r.expiresAt).length,
    ledgerOff: snap.reservations.filter((r) =>
      r.status === 'PAID' && r.total > 0
        ? r.ledgerUses !== 1 || r.ledgerTaken !== r.total
        : r.ledgerUses !== 0,
    ).length,
  };
}

/**
 * The schedules' snapshot once their reservations and payments stop moving (two snapshots
 * `intervalMs` apart agree, at most `polls`): requests the load tool abandoned may still commit.
 */
async function settledSnapshot(
  db: pg.Client,
  scheduleIds: readonly string[],
  polls = 30,
  intervalMs = 500,
): Promise<ConcertSnapshot> {
  const shape = (s: ConcertSnapshot) =>
    `${s.reservations.length}/${s.reservations.filter((r) => r.status === 'PAID').length}`;
  let snap = await readConcertSnapshot(db, scheduleIds, NO_ROOM);
  for (let i = 1; i < polls; i++) {
    await sleepMs(intervalMs);
    const next = await readConcertSnapshot(db, scheduleIds, NO_ROOM);
    const still = shape(next) === shape(snap);
    snap = next;
    if (still) break;
  }
  return snap;
}

const sameSeats = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((s, i) => s === b[i]);

/**
 * How many of `unseen` (one key per row nobody saw an answer for) the requests in flight at the
 * stop (`inflight`, one key per request, each explaining at most one row) leave unexplained.
 */
function beyondInflight(unseen: readonly string[], inflight: readonly string[]): number {
  const open = new Map<string, number>();
  for (const k of inflight) open.set(k, (open.get(k) ?? 0) + 1);
  let bad = 0;
  for (const k of unseen) {
    const left = open.get(k) ?? 0;
    if (left > 0) open.set(k, left - 1);
    else bad++;
  }
  return bad;
}

/** What the load saw (and did not see) against the snapshot. */
function judgeSeen(snap: ConcertSnapshot, seen: SeatRunSeen) {
  const at = snap.takenAt;
  const byId = new Map(snap.reservations.map((r) => [r.id, r]));
  const holdsMissing = seen.held.filter((h) => {
    const r = byId.get(h.reservationId);
    return !r || r.userId !== h.userId || !sameSeats(r.seats, h.seats) || !liveOrPaid(r, at);
  }).length;
  const paysUnsold = seen.paid.filter((id) => {
    const r = byId.get(id);
    return r?.status !== 'PAID' || r.soldRows !== r.seats.length;
  }).length;
  const heldIds = new Set(seen.held.map((h) => h.reservationId));
  const paidIds = new Set(seen.paid);
  // A reservation nobody saw must be a hold in flight at the stop (by that user); a payment
  // nobody saw, a pay in flight at the stop (of that reservation).
  const unseenHolds = snap.reservations.filter((r) => !heldIds.has(r.id));
  const unseenPays = snap.reservations.filter((r) => r.status === 'PAID' && !paidIds.has(r.id));
  return {
    holdsMissing,
    paysUnsold,
    unseenHolds: unseenHolds.length,
    unexplainedHolds: beyondInflight(
      unseenHolds.map((r) => r.userId),
      seen.inflightHolders,
    ),
    unexplainedPays: beyondInflight(
      unseenPays.map((r) => r.id),
      seen.inflightPays,
    ),
    twice: seen.held.length - heldIds.size + (seen.paid.length - paidIds.size),
  };
}

export async function auditSeatRun(
  databaseUrl: string,
  scheduleIds: readonly string[],
  seen: SeatRunSeen,
): Promise<SeatRunAudit> {
  const snap = await withDatabase(
    databaseUrl,
    (db) => settledSnapshot(db, scheduleIds),
    'stampede-bench-audit',
  );
  const violations = violationsOf(snap);
  const j = judgeSeen(snap, seen);
  const sum = (k: 'seatRows' | 'heldLive' | 'sold') => snap.schedules.reduce((n, x) => n + x[k], 0);
  const paidReservations = snap.reservations.filter((r) => r.status === 'PAID').length;
  const ok =
    Object.values(violations).every((n) => n === 0) &&
    j.holdsMissing === 0 &&
    j.paysUnsold === 0 &&
    j.unexplainedHolds === 0 &&
    j.unexplainedPays === 0 &&
    j.twice === 0;
  const text =
    `reservations ${fmt(snap.reservations.length)} = 201s ${fmt(seen.held.length)}` +
    (j.unseenHolds ? ` + ${fmt(j.unseenHolds)} committed for holds in flight at the stop` : '') +
    `, paid ${fmt(paidReservations)} (200s ${fmt(seen.paid.length)}); ` +
    `seats held ${fmt(sum('heldLive'))}, sold ${fmt(sum('sold'))} of ${fmt(sum('seatRows'))}; ` +
    `201s not live-or-paid ${j.holdsMissing}, 200s not sold ${j.paysUnsold}, ` +
    `unexplained ${j.unexplainedHolds} holds / ${j.unexplainedPays} payments, twice ${j.twice}; ` +
    `${Object.entries(violations)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')} → ${ok ? 'OK' : 'FAILED'}`;
  return {
    ok,
    reservations: snap.reservations.length,
    paidReservations,
    seatsOffered: sum('seatRows'),
    seatsHeld: sum('heldLive'),
    seatsSold: sum('sold'),
    violations,
    holdsMissing: j.holdsMissing,
    paysUnsold: j.paysUnsold,
    unexplainedHolds: j.unexplainedHolds,
    unexplainedPays: j.unexplainedPays,
    twice: j.twice,
    text,
  };
}
