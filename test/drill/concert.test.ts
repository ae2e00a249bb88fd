/**
 * The concert drill: its own default profile; a short real embedded run (the drill starts and
 * stops the server) that sells seats behind the waiting room and passes every audit check, API and
 * PostgreSQL; and the audit's rules, judged on views and snapshots built by hand, each failing when
 * its invariant breaks (test/drill/audit-broken-targets.test.ts breaks a real database).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ConcertSnapshot, SeatReservationRow } from '../../src/drill/audit-queries.js';
import { type DrillOptions, parseDrillArgs } from '../../src/drill/options.js';
import { peakVUs } from '../../src/drill/profiles.js';
import { pickSeats } from '../../src/drill/scenarios/concert.js';
import {
  type ConcertApiView,
  type ConcertDatabaseInput,
  type ConcertRecord,
  concertApiChecks,
  concertDatabaseChecks,
} from '../../src/drill/scenarios/concert-audit-rules.js';
import type { DrillSummary } from '../../src/drill/summary.js';
import { expectedExit, LENIENT_THRESHOLDS, removeOutDirs, runDrillCli } from './support/run-cli.js';

afterAll(removeOutDirs);

function opts(...argv: string[]): DrillOptions {
  const p = parseDrillArgs(argv, {});
  if (p.help) throw new Error('help');
  return p.options;
}

const failing = (r: { checks: { name: string; ok: boolean }[] }) =>
  r.checks.filter((c) => !c.ok).map((c) => c.name);

describe('the concert profile', () => {
  it('is what concert runs when nothing says otherwise: 0 → 50 → 150 → 50 → 0 VUs over four 15 s stages', () => {
    expect(opts('concert').profile).toEqual({
      name: 'concert',
      description: '0 → 50 VUs in 15 s, up to 150 in 15 s, down to 50 in 15 s, down to 0 in 15 s',
      startVUs: 0,
      stages: [
        { durationMs: 15_000, target: 50 },
        { durationMs: 15_000, target: 150 },
        { durationMs: 15_000, target: 50 },
        { durationMs: 15_000, target: 0 },
      ],
    });
    expect(opts('checkout').profile.name).toBe('smoke');
  });

  it('takes --scale and --profile as every scenario does; --vus/--duration alone override it, as in k6', () => {
    const scaled = opts('concert', '--scale', '0.2').profile;
    expect(scaled.stages.map((s) => s.target)).toEqual([10, 30, 10, 0]);
    expect(scaled.description).toBe(
      '0 → 10 VUs in 15 s, up to 30 in 15 s, down to 10 in 15 s, down to 0 in 15 s',
    );
    expect(opts('concert', '--profile', 'spike').profile.name).toBe('spike');
    expect(opts('coupon-drop', '--profile', 'concert', '--duration', '8s').profile.stages).toEqual([
      { durationMs: 2_000, target: 50 },
      { durationMs: 2_000, target: 150 },
      { durationMs: 2_000, target: 50 },
      { durationMs: 2_000, target: 0 },
    ]);
    expect(opts('concert', '--vus', '20', '--duration', '10s').profile).toMatchObject({
      name: 'custom',
      stages: [{ durationMs: 10_000, target: 20 }],
    });
    expect(peakVUs(opts('concert', '--profile', 'concert', '--vus', '300').profile)).toBe(300);
  });

  it('reads its sizing flags and refuses bad ones', () => {
    expect(
      opts('concert', '--abandon-share', '0.5', '--schedules', '3', '--seats', '40').params,
    ).toMatchObject({
      abandonShare: 0.5,
      schedules: 3,
      seats: 40,
    });
    expect(() => parseDrillArgs(['concert', '--abandon-share', '1.5'], {})).toThrow(
      /--abandon-share must be between 0 and 1/,
    );
    expect(() => parseDrillArgs(['concert', '--seats', '1001'], {})).toThrow(
      /--seats must be between 1 and 1000/,
    );
  });

  it('picks one or two free seats next to each other in the free list, never a taken one', () => {
    let x = 0;
    const rng = () => {
      x = (x * 9301 + 49297) % 233280;
      return x / 233280;
    };
    const free = [3, 4, 9, 10, 11, 20];
    for (let i = 0; i < 200; i++) {
      const seats = pickSeats(rng, free) ?? [];
      expect(seats.length === 1 || seats.length === 2).toBe(true);
      const at = free.indexOf(seats[0]);
      expect(at).toBeGreaterThanOrEqual(0);
      if (seats.length === 2) expect(seats[1]).toBe(free[at + 1]);
    }
    expect(pickSeats(rng, [7])).toEqual([7]);
    expect(pickSeats(rng, [])).toBeNull();
  });
});

describe('concert against an embedded server the drill starts itself', () => {
  it('sells seats behind the waiting room, never one twice, and passes its audit (API and PostgreSQL)', async () => {
    const run = await runDrillCli([
      'concert',
      '--profile',
      'concert',
      '--duration',
      '12s',
      '--scale',
      '0.2',
      '--seats',
      '20',
      '--graceful-stop',
      '3s',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    const explain = `exit ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`;
    expect(run.code, explain).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expect(s.audit.verdict, explain).toBe('PASS');
    expect(s.audit.checks.map((c) => [c.name, c.ok, c.source])).toEqual([
      ['passless_hold_refused', true, 'api'],
      ['reservations_readable', true, 'api'],
      ['paid_reads_paid', true, 'api'],
      ['unpaid_holds_unpaid', true, 'api'],
      ['no_seat_sold_twice', true, 'api'],
      ['seats_accounted', true, 'api'],
      ['paid_seats_sold', true, 'api'],
      ['sold_matches_paid', true, 'api'],
      ['points_balance', true, 'api'],
      ['db_no_seat_sold_twice', true, 'database'],
      ['db_seats_accounted', true, 'database'],
      ['db_sold_matches_api', true, 'database'],
      ['db_paid_are_sold', true, 'database'],
      ['db_no_late_payment', true, 'database'],
      ['db_holds_had_pass', true, 'database'],
      ['db_payments_in_ledger', true, 'database'],
      ['db_wallets_match_ledger', true, 'database'],
    ]);
    expect(s.setup_data).toMatchObject({
      seatsPerSchedule: 20,
      maxActive: 45,
      admitPerSecond: 5,
      users: 300,
    });
    const count = (m: string) => s.metrics[m]?.values.count ?? 0;
    const f = s.audit.facts;
    // The crowd was admitted, held and paid; every counter agrees with what the server holds.
    expect(count('concert_admitted')).toBeGreaterThan(0);
    expect(count('concert_paid')).toBeGreaterThan(0);
    expect(f.holds).toBe(count('concert_held'));
    expect(count('concert_paid') + count('concert_abandoned')).toBeLessThanOrEqual(count('concert_held'));
    expect(f.answered200).toBe(count('concert_paid'));
    expect(f.dbPaidReservations).toBe(count('concert_paid'));
    expect(f.seatsPaid).toBe(count('concert_seats_sold'));
    expect(f.dbSoldSeats).toBe(count('concert_seats_sold'));
    expect(Number(f.dbSoldSeats) + Number(f.dbHeldSeats) + Number(f.dbAvailableSeats)).toBe(40);
    expect(Number(f.dbSoldSeats)).toBeLessThanOrEqual(40);
  });
});

describe("the concert audit's API rules", () => {
  const T = Date.parse('2027-06-01T18:00:00Z');
  const record = (): ConcertRecord => ({
    users: { ids: ['11', '12', '13'], tokens: ['a', 'b', 'c'] },
    charge: 1_000,
    schedules: [{ id: '1', seatCount: 4, price: 100 }],
    holds: [
      {
        reservationId: '101',
        user: 0,
        scheduleId: '1',
        seats: [1, 2],
        total: 200,
        expiresAt: T,
        fate: 'paid',
      },
      {
        reservationId: '102',
        user: 1,
        scheduleId: '1',
        seats: [3],
        total: 100,
        expiresAt: T,
        fate: 'cancelled',
      },
      {
        reservationId: '103',
        user: 2,
        scheduleId: '1',
        seats: [4],
        total: 100,
        expiresAt: T,
        fate: 'walked',
      },
    ],
  });
  const view = (): ConcertApiView => ({
    probe: { status: 403, code: 'NOT_ADMITTED' },
    reservations: [
      { status: 'PAID', scheduleId: '1', seats: [1, 2], total: 200 },
      { status: 'CANCELLED', scheduleId: '1', seats: [3], total: 100 },
      { status: 'HELD', scheduleId: '1', seats: [4], total: 100 },
    ],
    balances: new Map([
      [0, 800],
      [1, 1_000],
      [2, 1_000],
    ]),
    maps: new Map([['1', { numbers: [1, 2, 3, 4], sold: new Set([1, 2]), held: 1, available: 1 }]]),
    availableAfter: new Map([['1', 1]]),
  });

  it('pass a sale where the API agrees with what the drill was answered', () => {
    const r = concertApiChecks(record(), view());
    expect(failing(r)).toEqual([]);
    expect(r.checks).toHaveLength(9);
    expect(r.facts).toMatchObject({
      holds: 3,
      answered200: 1,
      seatsPaid: 2,
      mapSold: 2,
      mapHeld: 1,
      mapAvailable: 1,
    });
    // A hold that expired since the map was read frees its seat: availableSeats may be one higher.
    const v = view();
    v.availableAfter = new Map([['1', 2]]);
    expect(failing(concertApiChecks(record(), v))).toEqual([]);
  });

  it('each fails, naming the first offender, when its invariant breaks', () => {
    const broken = (edit: (v: ConcertApiView) => void) => {
      const v = view();
      edit(v);
      return concertApiChecks(record(), v);
    };
    expect(failing(broken((v) => (v.probe = { status: 201, code: null })))).toEqual([
      'passless_hold_refused',
    ]);
    expect(failing(broken((v) => (v.reservations[2] = { error: 'GET answered 404 NOT_FOUND' })))).toEqual([
      'reservations_readable',
    ]);
    expect(
      failing(
        broken((v) => (v.reservations[0] = { status: 'HELD', scheduleId: '1', seats: [1, 2], total: 200 })),
      ),
    ).toEqual(['paid_reads_paid']);
    const paidTwice = broken(
      (v) => (v.reservations[2] = { status: 'PAID', scheduleId: '1', seats: [4], total: 100 }),
    );
    expect(failing(paidTwice)).toEqual(['unpaid_holds_unpaid']);
    expect(paidTwice.checks.find((c) => c.name === 'unpaid_holds_unpaid')?.detail).toMatch(
      /reservation 103 \(walked\) reads PAID/,
    );
    const o = record();
    o.holds[1].seats = [2];
    const v = view();
    v.reservations[1] = { status: 'PAID', scheduleId: '1', seats: [2], total: 100 };
    expect(failing(concertApiChecks(o, v))).toEqual(['unpaid_holds_unpaid', 'no_seat_sold_twice']);
    expect(
      failing(
        broken(
          (v) =>
            (v.maps = new Map([['1', { numbers: [1, 2, 4], sold: new Set([1, 2]), held: 1, available: 0 }]])),
        ),
      ),
    ).toEqual(['seats_accounted']);
    expect(failing(broken((v) => (v.availableAfter = new Map([['1', 3]]))))).toEqual(['seats_accounted']);
    expect(
      failing(
        broken((v) => {
          v.maps = new Map([['1', { numbers: [1, 2, 3, 4], sold: new Set([1]), held: 1, available: 2 }]]);
          v.availableAfter = new Map([['1', 2]]);
        }),
      ),
    ).toEqual(['paid_seats_sold', 'sold_matches_paid']);
    expect(
      failing(
        broken(
          (v) =>
            (v.maps = new Map([
              ['1', { numbers: [1, 2, 3, 4], sold: new Set([1, 2, 4]), held: 0, available: 1 }],
            ])),
        ),
      ),
    ).toEqual(['sold_matches_paid']);
    const points = broken((v) => (v.balances = new Map([...v.balances, [0, 1_000]])));
    expect(failing(points)).toEqual(['points_balance']);
    expect(points.checks.find((c) => c.name === 'points_balance')?.detail).toBe(
      'first: user 11: balance 1000, charged 1000 − paid 200 = 800',
    );
  });
});

describe("the concert audit's PostgreSQL rules", () => {
  const T = Date.parse('2027-06-01T18:00:00Z');
  const reservation = (id: string, over: Partial<SeatReservationRow>): SeatReservationRow => ({
    id,
    scheduleId: '1',
    userId: '11',
    seats: [1],
    total: 100,
    status: 'HELD',
    createdAt: T + 100,
    expiresAt: T + 300_000,
    paidAt: null,
    soldRows: 0,
    ledgerUses: 0,
    ledgerTaken: 0,
    ...over,
  });
  /** Seats 1–2 paid by user 11, 3 released by 12, 4 held by 13; all three admitted at T. */
  const snapshot = (): ConcertSnapshot => ({
    schedules: [
      {
        scheduleId: '1',
        seatCount: 4,
        seatRows: 4,
        maxSeat: 4,
        sold: 2,
        heldLive: 1,
        available: 1,
        soldRows: 2,
        soldTwice: 0,
      },
    ],
    reservations: [
      reservation('101', {
        seats: [1, 2],
        total: 200,
        status: 'PAID',
        paidAt: T + 500,
        soldRows: 2,
        ledgerUses: 1,
        ledgerTaken: 200,
      }),
      reservation('102', { userId: '12', seats: [3], status: 'CANCELLED' }),
      reservation('103', { userId: '13', seats: [4] }),
    ],
    admissions: ['11', '12', '13'].map((userId, i) => ({
      id: String(i + 1),
      userId,
      seq: i + 1,
      admittedAt: T,
      passExpiresAt: T + 30_000,
    })),
    takenAt: T + 1_000,
  });
  const input = (): ConcertDatabaseInput => ({
    schedules: [{ id: '1', seatCount: 4 }],
    paid: [{ reservationId: '101', scheduleId: '1', seats: [1, 2], total: 200 }],
    mapSold: new Map([['1', 2]]),
    walletsOff: 0,
  });
  const broken = (edit: (s: ConcertSnapshot, i: ConcertDatabaseInput) => void) => {
    const s = snapshot();
    const i = input();
    edit(s, i);
    return failing(concertDatabaseChecks(s, i));
  };

  it('pass a consistent sale, all from the database', () => {
    const r = concertDatabaseChecks(snapshot(), input());
    expect(r.checks.map((c) => [c.name, c.ok, c.source])).toEqual([
      ['db_no_seat_sold_twice', true, 'database'],
      ['db_seats_accounted', true, 'database'],
      ['db_sold_matches_api', true, 'database'],
      ['db_paid_are_sold', true, 'database'],
      ['db_no_late_payment', true, 'database'],
      ['db_holds_had_pass', true, 'database'],
      ['db_payments_in_ledger', true, 'database'],
      ['db_wallets_match_ledger', true, 'database'],
    ]);
    expect(r.facts).toEqual({
      dbReservations: 3,
      dbPaidReservations: 1,
      dbSoldSeats: 2,
      dbHeldSeats: 1,
      dbAvailableSeats: 1,
      dbWalletsOff: 0,
    });
    // A hold past its expiry is free, not held, whatever its status still says.
    const s = snapshot();
    s.reservations[2].expiresAt = T + 900;
    s.schedules[0] = { ...s.schedules[0], heldLive: 0, available: 2 };
    expect(failing(concertDatabaseChecks(s, input()))).toEqual([]);
  });

  it('each fails when its invariant breaks', () => {
    expect(broken((s) => (s.schedules[0].soldTwice = 1))).toEqual(['db_no_seat_sold_twice']);
    expect(
      broken((s) =>
        s.reservations.push(
          reservation('104', {
            userId: '13',
            seats: [2],
            status: 'PAID',
            paidAt: T + 600,
            ledgerUses: 1,
            ledgerTaken: 100,
          }),
        ),
      ),
    ).toEqual(['db_no_seat_sold_twice', 'db_seats_accounted']);
    expect(
      broken((s) => (s.schedules[0] = { ...s.schedules[0], seatRows: 3, maxSeat: 3, available: 0 })),
    ).toEqual(['db_seats_accounted']);
    expect(broken((s) => (s.schedules[0].soldRows = 1))).toEqual(['db_seats_accounted']);
    expect(broken((s) => (s.reservations[2].status = 'EXPIRED'))).toEqual(['db_seats_accounted']);
    expect(broken((_, i) => (i.mapSold = new Map([['1', 3]])))).toEqual(['db_sold_matches_api']);
    expect(broken((s) => (s.reservations[0].soldRows = 1))).toEqual(['db_paid_are_sold']);
    expect(
      broken(
        (_, i) => (i.paid = [...i.paid, { reservationId: '103', scheduleId: '1', seats: [4], total: 100 }]),
      ),
    ).toEqual(['db_paid_are_sold']);
    expect(broken((s) => (s.reservations[0].paidAt = s.reservations[0].expiresAt + 1))).toEqual([
      'db_no_late_payment',
    ]);
    expect(broken((s) => (s.admissions = s.admissions.filter((a) => a.userId !== '12')))).toEqual([
      'db_holds_had_pass',
    ]);
    expect(broken((s) => (s.reservations[2].createdAt = T - 1))).toEqual(['db_holds_had_pass']);
    expect(broken((s) => (s.reservations[2].createdAt = T + 31_001))).toEqual(['db_holds_had_pass']);
    expect(broken((s) => (s.reservations[0].ledgerUses = 2))).toEqual(['db_payments_in_ledger']);
    expect(broken((s) => (s.reservations[1].ledgerUses = 1))).toEqual(['db_payments_in_ledger']);
    expect(broken((_, i) => (i.walletsOff = 1))).toEqual(['db_wallets_match_ledger']);
  });
});
