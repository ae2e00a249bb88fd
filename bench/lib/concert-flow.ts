/**
 * The ticketing flow of bench:concerts as closed-model virtual users (bench/lib/vus.ts): each user
 * is its own stampede user and, with no think time, buys over and over: read a concert's schedules
 * → read the seat map of one with seats left → hold 1–4 seats the map shows free (another pick
 * when the map was stale and the hold answered 409 SEAT_UNAVAILABLE, FLOW_HOLD_ATTEMPTS in all) →
 * pay. It is the shape of the original system's load test (150 users doing this flow), and it
 * keeps what it saw (holds, payments, requests left without an answer) for the audit.
 */

import { between, mulberry32, type Rng } from '../../src/drill/random.js';
import type { DrillUsers } from '../../src/drill/scenarios/users.js';
import { asArray, asObject, type Json, str } from '../../src/drill/shape.js';
import type { SeatRunSeen, SeenHold } from './concert-audit.js';
import { ALL_REQUESTS, runVus, type StepFigures, type Vu } from './vus.js';

export const HOLD_ROUTE = '/api/v1/reservations';
/** The API's limit of seats per hold. */
export const MAX_SEATS_PER_HOLD = 4;
export const FLOW_HOLD_ATTEMPTS = 3;

const STEP = {
  schedules: 'read schedules',
  seatMap: 'read seat map',
  hold: 'hold',
  pay: 'pay',
  flow: 'whole flow (read → paid)',
} as const;
/** The order the report prints the steps in. */
const STEP_ORDER: readonly string[] = [
  STEP.schedules,
  STEP.seatMap,
  STEP.hold,
  STEP.pay,
  ALL_REQUESTS,
  STEP.flow,
];

interface FlowSeen extends SeatRunSeen {
  held: SeenHold[];
  paid: string[];
  inflightHolders: string[];
  inflightPays: string[];
}

interface FlowContext {
  users: DrillUsers;
  concertIds: readonly string[];
  /** Concerts whose schedules had no seat left when last read. */
  soldOut: Set<string>;
  rngs: Rng[];
  seen: FlowSeen;
}

export interface FlowRun {
  seconds: number;
  iterations: number;
  steps: { step: string; figures: StepFigures }[];
  seen: FlowSeen;
  /** Seconds into the run when every concert was sold out (the users stopped there). */
  soldOutAt?: number;
}

/** `k` distinct seats of `free`, at random, ascending. */
function pickSeats(rng: Rng, free: readonly number[], k: number): number[] {
  const pool = [...free];
  const out: number[] = [];
  while (out.length < k && pool.length) out.push(pool.splice(Math.floor(rng() * pool.length), 1)[0]);
  return out.sort((a, b) => a - b);
}

const itemsOf = (json: unknown, what: string): Json[] =>
  asArray(asObject(json, what).items, `${what}.items`).map((x) => asObject(x, what));

/** Holds seats the map shows free; on 409 SEAT_UNAVAILABLE picks others, FLOW_HOLD_ATTEMPTS in all. */
async function holdFromMap(
  vu: Vu,
  ctx: FlowContext,
  scheduleId: string,
  free: number[],
): Promise<SeenHold | null> {
  const rng = ctx.rngs[vu.id];
  const userId = ctx.users.ids[vu.id];
  const want = between(rng, 1, MAX_SEATS_PER_HOLD);
  let left = free;
  for (let attempt = 0; attempt < FLOW_HOLD_ATTEMPTS && left.length; attempt++) {
    const seats = pickSeats(rng, left, want);
    const token = ctx.users.tokens[vu.id];
    const r = await vu.send(STEP.hold, 'POST', HOLD_ROUTE, { token, body: { scheduleId, seats } });
    if (!r) return null;
    if (r.status === 201) {
      const h = asObject(r.json, 'hold');
      const held = asArray(h.seats, 'hold.seats').map(Number);
      return { reservationId: str(h, 'reservationId', 'hold'), userId, seats: held };
    }
    if (r.status === 0) ctx.seen.inflightHolders.push(userId);
    if (r.code !== 'SEAT_UNAVAILABLE') return null;
    left = left.filter((s) => !seats.includes(s));
  }
  return null;
}

/** One purchase: a concert's schedules → a schedule's seat map → hold → pay. */
async function purchase(vu: Vu, ctx: FlowContext): Promise<void> {
  const rng = ctx.rngs[vu.id];
  const token = ctx.users.tokens[vu.id];
  const open = ctx.concertIds.filter((c) => !ctx.soldOut.has(c));
  if (open.length === 0) return vu.stop();
  const t0 = performance.now();
  const concertId = open[Math.floor(rng() * open.length)];
  const list = await vu.send(STEP.schedules, 'GET', `/api/v1/concerts/${concertId}/schedules`, { token });
  if (list?.status !== 200) return;
  const schedules = itemsOf(list.json, 'schedules').filter((s) => Number(s.availableSeats) > 0);
  if (schedules.length === 0) {
    ctx.soldOut.add(concertId);
    return;
  }
  const scheduleId = str(schedules[Math.floor(rng() * schedules.length)], 'id', 'schedule');
  const map = await vu.send(STEP.seatMap, 'GET', `/api/v1/schedules/${scheduleId}/seats`, { token });
  if (map?.status !== 200) return;
  const free = itemsOf(map.json, 'seat map')
    .filter((s) => s.status === 'AVAILABLE')
    .map((s) => Number(s.number));
  const hold = await holdFromMap(vu, ctx, scheduleId, free);
  if (!hold) return;
  ctx.seen.held.push(hold);
  const paid = await vu.send(STEP.pay, 'POST', `${HOLD_ROUTE}/${hold.reservationId}/pay`, { token });
  if (paid?.status === 200) {
    ctx.seen.paid.push(hold.reservationId);
    vu.time(STEP.flow, performance.now() - t0, 'paid');
  } else if (paid?.status === 0) ctx.seen.inflightPays.push(hold.reservationId);
}

/** One virtual user per user of `users`, buying seats of `concertIds` for `seconds`. */
export async function runTicketingFlow(
  base: string,
  users: DrillUsers,
  concertIds: readonly string[],
  seconds: number,
): Promise<FlowRun> {
  const ctx: FlowContext = {
    users,
    concertIds,
    soldOut: new Set(),
    rngs: users.ids.map((_, i) => mulberry32(1_000 + i)),
    seen: { held: [], paid: [], inflightHolders: [], inflightPays: [] },
  };
  const started = performance.now();
  let soldOutAt: number | undefined;
  const run = await runVus({
    url: base,
    vus: users.ids.length,
    seconds,
    iteration: async (vu) => {
      await purchase(vu, ctx);
      if (soldOutAt === undefined && ctx.soldOut.size === concertIds.length)
        soldOutAt = (performance.now() - started) / 1_000;
    },
  });
  const names = run.recorder.names();
  const steps = STEP_ORDER.filter((s) => names.includes(s)).map((step) => ({
    step,
    figures: run.recorder.figures(step),
  }));
  run.recorder.destroy();
  return { seconds: run.seconds, iterations: run.iterations, steps, seen: ctx.seen, soldOutAt };
}
