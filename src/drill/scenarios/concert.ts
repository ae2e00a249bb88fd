/**
 * concert: a ticket sale behind a waiting room — the crowd lines up, each admitted user picks seats
 * on the seat map, holds them and pays with points, or abandons the hold.
 *   setup      U users (bulk) charged CHARGE points each (Idempotency-Key per charge), one probe user,
 *              a waiting room (maxActive M, admitPerSecond R, pass TTL 30 s, idle timeout 30 s) and
 *              a concert behind it with S schedules of N seats at PRICE points (a wallet pays for
 *              five seats; a user holds at most two)
 *   iteration  the next unused user joins the room and waits for the pass (wait-for-pass.ts: event
 *              stream, polling as fallback), reads the schedules and the seat map of one that has
 *              seats left, picks 1–2 AVAILABLE seats (the front rows are wanted most), holds them
 *              with the pass in X-Waiting-Room-Pass — a refused hold is retried once with other seats
 *              of the same map — and pays (Idempotency-Key; a pay without an answer is retried once
 *              with the same key). A share of the holders abandons instead: half of them release
 *              the hold (DELETE), the other half walk away and let it expire. Each user comes once;
 *              once every user had a turn, an iteration only reads the schedules.
 *   answers    join 201/200, reads 200, hold 201 or 409 SEAT_UNAVAILABLE / HOLD_LIMIT, pay 200 or 410
 *              HOLD_EXPIRED, release 204 are expected; everything else (403 with a live pass, 402
 *              with a wallet that covers the seats, 5xx, timeouts) is a failure.
 *   defaults   U = max(100, 10 × peak VUs), S = 2, N = min(1000, max(20, 3 × peak VUs)),
 *              R = max(4, ⌈peak VUs / 6⌉) and M = max(20, ⌈1.5 × peak VUs⌉) (so admission is paced
 *              by its rate and a line forms), abandon share 0.2, think time 0.5–1.5 s, profile
 *              `concert` (0 → 50 → 150 → 50 → 0 VUs, four 15 s stages).
 * The concert itself carries no run tag (the admin API takes none): the run's users and room do,
 * and the reservations belong to the run through its users.
 */
import { performance } from 'node:perf_hooks';
import type { AuditResult } from '../audit.js';
import type { Answer } from '../http.js';
import type { Registry } from '../metrics.js';
import { between, type Rng } from '../random.js';
import { STATUS_COLOR } from '../report/colors.js';
import { asArray, asObject, int, str } from '../shape.js';
import type { VirtualUser } from '../vu.js';
import { chargeAll } from './catalog-setup.js';
import { auditConcert } from './concert-audit.js';
import type { ConcertObservations, DrillHold, DrillSchedule } from './concert-types.js';
import type { AuditContext, Scenario, ScenarioContext } from './types.js';
import { createUsers } from './users.js';
import { joinRoom, POLL_MS, waitForPass } from './wait-for-pass.js';
import type { RoomLimits } from './waiting-room-types.js';

/** Points per seat, and points every user is charged at setup (five seats' worth). */
const PRICE = 2_000;
const CHARGE = 10_000;
const DEFAULT_ABANDON_SHARE = 0.2;

const READ_EXPECT = { 200: true } as const;
const HOLD_EXPECT = { 201: true, 409: ['SEAT_UNAVAILABLE', 'HOLD_LIMIT'] } as const;
const PAY_EXPECT = { 200: true, 410: ['HOLD_EXPIRED'] } as const;
const RELEASE_EXPECT = { 204: true } as const;
/** A user's pause to choose seats, and to decide to pay or leave, ms. */
const CHOOSE_MS = [200, 600] as const;

interface ScheduleView {
  id: string;
  availableSeats: number;
}

/**
 * 1 or 2 seats among `free` (ascending), next to each other in that list; the front rows are wanted
 * most (the start is drawn with density falling towards the back). Null when nothing is free.
 */
export function pickSeats(rng: Rng, free: readonly number[]): number[] | null {
  if (free.length === 0) return null;
  const n = Math.min(rng() < 0.5 ? 1 : 2, free.length);
  const start = Math.min(Math.floor(rng() * rng() * free.length), free.length - n);
  return free.slice(start, start + n);
}

function schedulesOf(json: unknown): ScheduleView[] {
  return asArray(asObject(json, 'schedules').items, 'schedules.items').map((it) => {
    const s = asObject(it, 'schedule');
    return { id: str(s, 'id', 'schedule'), availableSeats: int(s, 'availableSeats', 'schedule') };
  });
}

function availableSeatsOf(json: unknown): number[] {
  return asArray(asObject(json, 'seat map').items, 'seat map.items')
    .map((it) => asObject(it, 'seat'))
    .filter((s) => str(s, 'status', 'seat') === 'AVAILABLE')
    .map((s) => int(s, 'number', 'seat'))
    .sort((a, b) => a - b);
}

function holdOf(res: Answer, user: number): DrillHold | null {
  try {
    const b = asObject(res.json, 'hold 201');
    const seats = asArray(b.seats, 'hold 201.seats').map((n) => {
      if (typeof n !== 'number' || !Number.isInteger(n)) throw new Error('hold 201.seats: expected integers');
      return n;
    });
    const expiresAt = Date.parse(str(b, 'expiresAt', 'hold 201'));
    if (Number.isNaN(expiresAt)) return null;
    return {
      reservationId: str(b, 'reservationId', 'hold 201'),
      user,
      scheduleId: str(b, 'scheduleId', 'hold 201'),
      seats,
      total: int(b, 'total', 'hold 201'),
      expiresAt,
      fate: 'open',
    };
  } catch {
    return null;
  }
}

export function createConcert(registry: Registry): Scenario {
  const admittedMetric = registry.define('concert_admitted', 'counter');
  const heldMetric = registry.define('concert_held', 'counter');
  const paidMetric = registry.define('concert_paid', 'counter');
  const seatsSoldMetric = registry.define('concert_seats_sold', 'counter');
  const abandonedMetric = registry.define('concert_abandoned', 'counter');
  const seatUnavailableMetric = registry.define('concert_seat_unavailable', 'counter');
  const soldOutMetric = registry.define('concert_sold_out', 'counter');
  const holdLimitMetric = registry.define('concert_hold_limit', 'counter');
  const holdExpiredMetric = registry.define('concert_hold_expired', 'counter');
  const lostMetric = registry.define('concert_lost_place', 'counter');
  const waitMetric = registry.define('concert_wait', 'trend');
  let obs: ConcertObservations | null = null;
  let stamp = '';

  async function readSchedules(vu: VirtualUser, o: ConcertObservations): Promise<ScheduleView[] | null> {
    const res = await vu.request({
      method: 'GET',
      path: `/api/v1/concerts/${encodeURIComponent(o.concertId)}/schedules`,
      name: 'schedules',
      expect: READ_EXPECT,
    });
    vu.check(res.expected, 'schedules answered 200');
    if (!res.expected) return null;
    try {
      return schedulesOf(res.json);
    } catch {
      vu.check(false, 'schedules carry id and availableSeats');
      return null;
    }
  }

  async function readFreeSeats(vu: VirtualUser, scheduleId: string): Promise<number[] | null> {
    const res = await vu.request({
      method: 'GET',
      path: `/api/v1/schedules/${encodeURIComponent(scheduleId)}/seats`,
      name: 'seats',
      expect: READ_EXPECT,
    });
    vu.check(res.expected, 'seat map answered 200');
    if (!res.expected) return null;
    try {
      return availableSeatsOf(res.json);
    } catch {
      vu.check(false, 'seat map items carry number and status');
      return null;
    }
  }

  /** A schedule with seats left and its free seats by the map, or null (sold out: counted; a failed read). */
  async function freeSeats(
    vu: VirtualUser,
    o: ConcertObservations,
  ): Promise<{ scheduleId: string; free: number[] } | null> {
    const open = (await readSchedules(vu, o))?.filter((s) => s.availableSeats > 0);
    if (!open) return null;
    if (open.length === 0) {
      soldOutMetric.add(1);
      return null;
    }
    const scheduleId = open[between(vu.rng, 0, open.length - 1)].id;
    const free = await readFreeSeats(vu, scheduleId);
    return free ? { scheduleId, free } : null;
  }

  /** One hold request: the hold (201), `taken` (409 SEAT_UNAVAILABLE), or null for any other answer. */
  async function requestHold(
    vu: VirtualUser,
    o: ConcertObservations,
    u: number,
    pass: string,
    body: { scheduleId: string; seats: number[] },
  ): Promise<DrillHold | 'taken' | null> {
    // Unknown until answered: a hold cut off by the end of the run may still have been committed.
    o.holdUnknown[u] = 1;
    const res = await vu.request({
      method: 'POST',
      path: '/api/v1/reservations',
      name: 'hold',
      token: o.users.tokens[u],
      body,
      headers: { 'x-waiting-room-pass': pass },
      expect: HOLD_EXPECT,
    });
    vu.check(res.expected, 'hold answered 201 or 409 (seat unavailable, hold limit)');
    if (res.status === 201) {
      const h = holdOf(res, u);
      vu.check(h !== null, '201 carries the reservation, its seats, total and expiry');
      if (!h) return null; // held, but the drill cannot tell which seats: holdUnknown stays
      o.holdUnknown[u] = 0;
      o.holds.push(h);
      heldMetric.add(1);
      return h;
    }
    if (res.status === 503 || (res.status >= 400 && res.status < 500)) o.holdUnknown[u] = 0;
    if (res.status === 409 && res.code === 'SEAT_UNAVAILABLE') {
      seatUnavailableMetric.add(1);
      return 'taken';
    }
    if (res.status === 409 && res.code === 'HOLD_LIMIT') holdLimitMetric.add(1);
    return null;
  }

  /** Seats held for user `u` with `pass` (a refused hold retried once with other seats of the map), or null. */
  async function hold(
    vu: VirtualUser,
    o: ConcertObservations,
    u: number,
    pass: string,
  ): Promise<DrillHold | null> {
    const map = await freeSeats(vu, o);
    if (!map) return null;
    await vu.sleep(between(vu.rng, ...CHOOSE_MS));
    const tried = new Set<number>();
    for (let attempt = 0; attempt < 2; attempt++) {
      const seats = pickSeats(
        vu.rng,
        map.free.filter((n) => !tried.has(n)),
      );
      if (!seats) {
        soldOutMetric.add(1);
        return null;
      }
      for (const n of seats) tried.add(n);
      const held = await requestHold(vu, o, u, pass, { scheduleId: map.scheduleId, seats });
      if (held !== 'taken') return held;
    }
    return null;
  }

  async function pay(vu: VirtualUser, o: ConcertObservations, h: DrillHold): Promise<void> {
    h.fate = 'pay-unknown';
    const spec = {
      method: 'POST' as const,
      path: `/api/v1/reservations/${encodeURIComponent(h.reservationId)}/pay`,
      name: 'pay',
      token: o.users.tokens[h.user],
      headers: { 'idempotency-key': `drill-${stamp}-pay-${h.reservationId}` },
      expect: PAY_EXPECT,
    };
    let res = await vu.request(spec);
    if (res.status === 0) res = await vu.request(spec);
    vu.check(res.expected, 'pay answered 200 (or 410 HOLD_EXPIRED)');
    if (res.status === 200) {
      h.fate = 'paid';
      paidMetric.add(1);
      seatsSoldMetric.add(h.seats.length);
    } else if (res.status === 410) {
      h.fate = 'pay-expired';
      holdExpiredMetric.add(1);
    } else if (res.status === 402 || res.status === 404) {
      h.fate = 'pay-refused';
    }
  }

  async function abandon(vu: VirtualUser, o: ConcertObservations, h: DrillHold): Promise<void> {
    if (vu.rng() >= 0.5) {
      h.fate = 'walked';
      abandonedMetric.add(1, { how: 'walk' });
      return;
    }
    h.fate = 'cancel-unknown';
    abandonedMetric.add(1, { how: 'release' });
    const res = await vu.request({
      method: 'DELETE',
      path: `/api/v1/reservations/${encodeURIComponent(h.reservationId)}`,
      name: 'release',
      token: o.users.tokens[h.user],
      expect: RELEASE_EXPECT,
    });
    vu.check(res.expected, 'release answered 204');
    if (res.status === 204) h.fate = 'cancelled';
  }

  return {
    name: 'concert',
    description:
      'A ticket sale behind a waiting room: admitted users hold 1–2 seats and pay with points, some abandon',
    defaultThresholds: [
      'http_req_failed: rate<0.01',
      'http_req_duration{name:hold}: p(95)<500',
      'http_req_duration{name:pay}: p(95)<500',
      'checks: rate>0.99',
    ],
    defaultThinkTime: { minMs: 500, maxMs: 1_500 },
    businessCounters: [
      { metric: 'concert_admitted', label: 'admitted', color: '#a3e635' },
      { metric: 'concert_held', label: 'held', color: STATUS_COLOR['201'] },
      { metric: 'concert_paid', label: 'paid', color: STATUS_COLOR['200'] },
      { metric: 'concert_abandoned', label: 'abandoned', color: STATUS_COLOR['204'] },
      { metric: 'concert_seat_unavailable', label: 'seat taken', color: STATUS_COLOR['409'] },
      { metric: 'concert_sold_out', label: 'sold out', color: STATUS_COLOR['410'] },
    ],

    async setup(ctx: ScenarioContext) {
      const userCount = ctx.params.users ?? Math.max(100, ctx.peakVUs * 10);
      const scheduleCount = ctx.params.schedules ?? 2;
      const seatCount = ctx.params.seats ?? Math.min(1_000, Math.max(20, 3 * ctx.peakVUs));
      const abandonShare = ctx.params.abandonShare ?? DEFAULT_ABANDON_SHARE;
      const limits: RoomLimits = {
        maxActive: Math.max(20, Math.ceil(1.5 * ctx.peakVUs)),
        admitPerSecond: Math.max(4, Math.ceil(ctx.peakVUs / 6)),
        passTtlSeconds: 30,
        idleTimeoutSeconds: 30,
      };
      stamp = Date.now().toString(36);
      ctx.log(
        `setup: ${userCount} users with ${CHARGE} points, room maxActive ${limits.maxActive} admitPerSecond ${limits.admitPerSecond}, ` +
          `${scheduleCount} schedules of ${seatCount} seats at ${PRICE} points`,
      );
      const users = await createUsers(
        ctx.api,
        ctx.adminToken,
        userCount,
        `drill-${stamp}`,
        ctx.log,
        ctx.runTag,
      );
      const probe = await createUsers(
        ctx.api,
        ctx.adminToken,
        1,
        `drill-${stamp}-probe`,
        ctx.log,
        ctx.runTag,
      );
      await chargeAll(ctx.api, users.tokens, CHARGE, `drill-${stamp}-setup`);
      const room = asObject(
        await ctx.api.must('POST', '/api/v1/admin/waiting-rooms', 201, {
          token: ctx.adminToken,
          body: { name: `drill concert ${stamp}`, ...limits, runTag: ctx.runTag },
        }),
        'waiting room',
      );
      const roomId = str(room, 'id', 'waiting room');
      const day = 86_400_000;
      const concert = asObject(
        await ctx.api.must('POST', '/api/v1/admin/concerts', 201, {
          token: ctx.adminToken,
          body: {
            name: `drill concert ${stamp}`,
            venue: 'stampede drill',
            waitingRoomId: roomId,
            schedules: Array.from({ length: scheduleCount }, (_, i) => ({
              startsAt: new Date(Date.now() + (30 + i) * day).toISOString(),
              seatCount,
              price: PRICE,
            })),
          },
        }),
        'concert',
      );
      const schedules: DrillSchedule[] = asArray(concert.schedules, 'concert.schedules').map((it) => {
        const s = asObject(it, 'schedule');
        return {
          id: str(s, 'id', 'schedule'),
          seatCount: int(s, 'seatCount', 'schedule'),
          price: int(s, 'price', 'schedule'),
        };
      });
      obs = {
        users,
        probe: { id: probe.ids[0], token: probe.tokens[0] },
        charge: CHARGE,
        roomId,
        limits,
        concertId: str(concert, 'id', 'concert'),
        schedules,
        abandonShare,
        taken: new Uint8Array(userCount),
        joined: new Uint8Array(userCount),
        admitted: new Uint8Array(userCount),
        lost: new Uint8Array(userCount),
        holdUnknown: new Uint8Array(userCount),
        holds: [],
      };
    },

    async iteration(vu: VirtualUser) {
      const o = obs;
      if (!o) throw new Error('concert: iteration before setup');
      const u = vu.iterationInTest;
      if (u >= o.users.ids.length) {
        // Everyone had a turn: what is left of the crowd watches the sale.
        await readSchedules(vu, o);
        await vu.sleep(POLL_MS);
        return;
      }
      o.taken[u] = 1;
      const seat = { roomId: o.roomId, token: o.users.tokens[u] };
      const joined = await joinRoom(vu, seat);
      if (!joined) return;
      o.joined[u] = 1;
      const joinedAt = performance.now();
      const e = (await waitForPass(vu, seat, joined.entry))?.entry;
      if (!e) return;
      if (e.status !== 'ADMITTED') {
        o.lost[u] = 1;
        lostMetric.add(1, { status: e.status });
        return;
      }
      vu.check(e.pass !== undefined, 'an admitted entry carries its pass');
      if (e.pass === undefined) return;
      o.admitted[u] = 1;
      admittedMetric.add(1);
      waitMetric.add(performance.now() - joinedAt);
      const h = await hold(vu, o, u, e.pass);
      if (!h || vu.signal.aborted) return;
      await vu.sleep(between(vu.rng, ...CHOOSE_MS));
      if (vu.signal.aborted) return;
      if (vu.rng() < o.abandonShare) await abandon(vu, o, h);
      else await pay(vu, o, h);
    },

    audit(ctx: AuditContext): Promise<AuditResult> {
      if (!obs) throw new Error('concert: audit before setup');
      return auditConcert(ctx, obs);
    },

    describeSetup(): Record<string, number | string> {
      if (!obs) return {};
      return {
        concertId: obs.concertId,
        scheduleIds: obs.schedules.map((s) => s.id).join(','),
        seatsPerSchedule: obs.schedules[0]?.seatCount ?? 0,
        pricePerSeat: PRICE,
        pointsPerUser: obs.charge,
        users: obs.users.ids.length,
        roomId: obs.roomId,
        maxActive: obs.limits.maxActive,
        admitPerSecond: obs.limits.admitPerSecond,
        passTtlSeconds: obs.limits.passTtlSeconds,
        abandonShare: obs.abandonShare,
      };
    },
  };
}
