/**
 * Concert ticketing benchmark: seat holds and payments. Importing this module does nothing;
 * `npm run bench:concerts` builds it and runs main().
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import type { ApiClient } from '../src/drill/api-client.js';
import { withDatabase } from '../src/drill/audit-queries.js';
import { serverEntry } from '../src/drill/process.js';
import { between, mulberry32, type Rng } from '../src/drill/random.js';
import { chargeAll } from '../src/drill/scenarios/catalog-setup.js';
import { createUsers, type DrillUsers } from '../src/drill/scenarios/users.js';
import { asArray, asObject, str } from '../src/drill/shape.js';
import { auditSeatRun, type SeatRunAudit, type SeatRunSeen, type SeenHold } from './lib/concert-audit.js';
import {
  FLOW_HOLD_ATTEMPTS,
  type FlowRun,
  HOLD_ROUTE,
  MAX_SEATS_PER_HOLD,
  runTicketingFlow,
} from './lib/concert-flow.js';
import type { CpuScope, CpuSplit } from './lib/cpu.js';
import { fmt, type Machine, machine, ms, paddedTable } from './lib/format.js';
import { type LoadResult, runLoad } from './lib/load.js';
import { type Measured, measured } from './lib/measure.js';
import { type BenchOptions, parseBenchArgs } from './lib/options.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';
import type { CommitFigures } from './lib/server-metrics.js';
import { startBareServer, withServerUnderTest } from './lib/servers.js';
import { ALL_REQUESTS } from './lib/vus.js';

export const USAGE = `Concert ticketing benchmark: npm run bench:concerts [-- --connections 100 --duration 10 --vus 150 --quick]

One run on this machine: the drill's spawner for the servers, autocannon (driven in-process) for
the throughput scenarios, closed-model virtual users on undici for the ticketing flow:
  bare      bench/bare-server.mjs: a bare Fastify POST /api/v1/reservations answering 201 with a
            hold of the real size, and POST .../pay answering 200 with a paid reservation of the
            real size: the ceiling for "HTTP on Node on this box"
  embedded  \`node dist/cli.js serve\` with a fresh DATA_DIR (embedded PostgreSQL, memory seat gate)
  cluster   the same with DATABASE_URL (a fresh database on the local PostgreSQL, dropped at the
            end) and REDIS_URL (a random key prefix, deleted at the end): the Redis seat gate

Scenarios per server mode (each hold asks for 1 to 4 adjacent seats):
  hot schedule     one schedule of 1,000 seats, 10,000 users round-robin, random seats: the seats
                   go within the first second, then nearly every hold is 409 SEAT_UNAVAILABLE
  1,000 schedules  holds spread over 1,000 schedules of 1,000 seats, each on seats nobody asked
                   for yet, by 10,007 users: nearly every hold is a committed 201
  pay              each user pays their own holds of the previous scenario: one POST .../pay per
                   hold it made, as many as there were, however long they take
  ticketing flow   --vus users in a closed loop, no think time, for --duration seconds: read a
                   concert's schedules, read a seat map, hold seats that map shows free (another
                   pick on 409, at most 3), pay; p50/p95/p99 per step and overall
The bare route is measured again right before each throughput scenario: ratios compare runs made
side by side. After each scenario PostgreSQL is audited: no seat sold twice or under two live
holds, every 201 seen a live or paid reservation of that user, every 200 on pay a paid
reservation with its seats sold; reservations nobody saw only for requests in flight at the stop.

Options:
  --connections N   concurrent connections of the throughput scenarios (default 100)
  --duration S      seconds per measured run (default 10; --quick: 3)
  --vus N           virtual users of the ticketing flow (default 150)
  --quick           short runs (3 s measured, 1 s warm-up) for a smoke check
  --modes LIST      comma list of bare,embedded,cluster (default all three; bare always runs)
  --server-env LIST extra env for the server under test, e.g. COMMIT_MAX_WAIT_MS=2,PG_POOL_MAX=20
  --profile DIR     run the server under test with \`node --cpu-prof --cpu-prof-dir=DIR\`
  --server-root DIR run DIR/dist/cli.js (a built worktree of an older commit) as the server under test
  --json FILE       also write every figure as JSON
  -h, --help        this text
Env: BENCH_PG_URL, BENCH_REDIS_URL as for bench:coupons. The server runs with HOLD_SECONDS=1800 (so
no hold of a run expires before its audit) unless --server-env sets it. Traffic goes to 127.0.0.1
only; every run is bounded in time.
`;

const PAY_ROUTE = '/api/v1/reservations/:reservationId/pay';
const HOLD_COMMITTER = 'seat-hold';
/** The API's limits: seats per schedule, schedules per concert. */
const SEATS = 1_000;
const SCHEDULES_PER_CONCERT = 100;
const PRICE = 100;
/** Charged to every user who pays: far above what a run can spend. */
const POINTS = 1_000_000;
const HOT_USERS = 10_000;
const SPREAD_SCHEDULES = 1_000;
/** A prime: the user and the schedule of the n-th spread hold never pair up twice within a run. */
const SPREAD_USERS = 10_007;
/** Blocks of MAX_SEATS_PER_HOLD seats per schedule: the spread holds' seats never overlap. */
const BLOCKS = SEATS / MAX_SEATS_PER_HOLD;
const WARM_SCHEDULES = 100;
const FLOW_CONCERTS = 20;
const FLOW_SCHEDULES = 5;
const FLOW_TARGET_P95_MS = 50;
const SERVER_ENV = { HOLD_SECONDS: '1800' };

// ---- one measured autocannon load of holds or payments ------------------------------------------

/** The n-th request of a load: a hold (body) or a payment (reservationId), by user `user`. */
interface SeatRequest {
  user: number;
  path: string;
  body?: string;
  reservationId?: string;
}

interface SeatLoad {
  base: string;
  /** Authorization header value per user index. */
  auth: readonly string[];
  /** User id per user index; null when nothing is audited (bare route, warm-up). */
  userIds: readonly string[] | null;
  next(n: number): SeatRequest;
  seconds: number;
  /** Exactly this many requests instead, however long they take (each bounded by its timeout). */
  amount?: number;
}

/** What the load saw, for the audit and the table. */
export interface SeatLoadResult extends LoadResult, SeatRunSeen {
  /** Answers by status and problem code: "201", "409 SEAT_UNAVAILABLE", ... */
  answers: Record<string, number>;
  /** User index of each entry of `held`. */
  heldBy: number[];
}

export interface SeatRun extends SeatLoadResult {
  cpu: CpuSplit;
  commit?: CommitFigures;
  /** The bare route measured right before this run. */
  bare?: SeatRun;
  audit?: SeatRunAudit;
}

export interface ResultRow extends SeatRun {
  scenario: string;
  short: string;
  mode: string;
}

function answerLabel(status: number, body: string): string {
  if (status < 400) return String(status);
  const code = /"code":"([A-Z_]+)"/.exec(body)?.[1];
  return code ? `${status} ${code}` : String(status);
}

/**
 * Runs `o.next` for `o.seconds` (or `o.amount` times). Each request is kept until its answer arrives, so the audit learns
 * which reservation a 201 made (from its body), which a 200 paid, and who was still waiting at the stop.
 */
async function seatLoad(o: SeatLoad, connections: number): Promise<SeatLoadResult> {
  const sent = new Map<number, SeatRequest>();
  const answers: Record<string, number> = {};
  const held: SeenHold[] = [];
  const heldBy: number[] = [];
  const paid: string[] = [];
  const r = await runLoad({
    url: o.base,
    connections,
    seconds: o.seconds,
    amount: o.amount,
    timeoutSec: 10,
    request(n) {
      const q = o.next(n);
      if (o.userIds) sent.set(n, q);
      const headers: Record<string, string> = { authorization: o.auth[q.user] };
      if (q.body) headers['content-type'] = 'application/json';
      return { path: q.path, headers, body: q.body };
    },
    answered(n, status, body) {
      const label = answerLabel(status, body);
      answers[label] = (answers[label] ?? 0) + 1;
      const q = sent.get(n);
      sent.delete(n);
      if (!q || !o.userIds) return;
      if (status === 201) {
        const h = asObject(JSON.parse(body), 'hold');
        held.push({
          reservationId: str(h, 'reservationId', 'hold'),
          userId: o.userIds[q.user],
          seats: asArray(h.seats, 'hold.seats').map(Number),
        });
        heldBy.push(q.user);
      } else if (status === 200 && q.reservationId) paid.push(q.reservationId);
    },
  });
  const inflightHolders: string[] = [];
  const inflightPays: string[] = [];
  for (const n of r.unanswered) {
    const q = sent.get(n);
    if (!q || !o.userIds) continue;
    if (q.reservationId) inflightPays.push(q.reservationId);
    else inflightHolders.push(o.userIds[q.user]);
  }
  return { ...r, answers, held, heldBy, paid, inflightHolders, inflightPays };
}

function logRun(label: string, r: SeatRun): void {
  log(
    `${label}: ${fmt(r.rps)} req/s, p50 ${ms(r.p50)} p95 ${ms(r.p95)} p99 ${ms(r.p99)} ms, answers ${JSON.stringify(r.answers)}` +
      `${r.errors ? `, errors ${r.errors} (timeouts ${r.timeouts})` : ''}`,
  );
}

function asRun(m: Measured<SeatLoadResult>): SeatRun {
  return { ...m.run, cpu: m.cpu, commit: m.commit };
}

/** A hold of `k` adjacent seats from `first`. */
function holdBody(scheduleId: string, first: number, k: number): string {
  return JSON.stringify({ scheduleId, seats: Array.from({ length: k }, (_, i) => first + i) });
}

/** Random holds on one schedule: 1–4 adjacent seats from a random first seat. */
function randomHold(rng: Rng, scheduleId: string): string {
  const k = between(rng, 1, MAX_SEATS_PER_HOLD);
  return holdBody(scheduleId, between(rng, 1, SEATS - k + 1), k);
}

// ---- the bare route ---------------------------------------------------------------------------

interface Bare {
  holds(label: string): Promise<SeatRun>;
  pays(label: string): Promise<SeatRun>;
  stop(): Promise<void>;
}

/**
 * Starts the bare server and warms it up. It stays up for the whole benchmark and is measured
 * again right before every server scenario (this machine is shared; other work comes and goes).
 */
async function startBare(opts: BenchOptions, cleanups: Cleanups): Promise<Bare> {
  const { server, stop } = await startBareServer(cleanups);
  // No auth on the bare routes; tokens of a real JWT's length keep the request bytes the same.
  const auth = Array.from({ length: 1_000 }, () => `Bearer ${randomBytes(150).toString('base64url')}`);
  const rng = mulberry32(1);
  const scope: CpuScope = { serverPid: server.pid };
  const load = (next: SeatLoad['next'], seconds: number) =>
    seatLoad({ base: server.url, auth, userIds: null, next, seconds }, opts.connections);
  const holdNext = (n: number): SeatRequest => ({
    user: n % auth.length,
    path: HOLD_ROUTE,
    body: randomHold(rng, '1000'),
  });
  const payNext = (n: number): SeatRequest => ({
    user: n % auth.length,
    path: `${HOLD_ROUTE}/${1_000_000 + n}/pay`,
  });
  const run = async (label: string, next: SeatLoad['next']) => {
    const r = asRun(await measured(scope, null, () => load(next, opts.duration)));
    logRun(label, r);
    return r;
  };
  log(`bare: warm-up ${opts.warmup} s`);
  await load(holdNext, opts.warmup);
  return { holds: (label) => run(label, holdNext), pays: (label) => run(label, payNext), stop };
}

// ---- setup ------------------------------------------------------------------------------------

/** `count` schedules of SEATS seats at PRICE, in concerts of at most 100; their ids, per concert. */
async function createSchedules(
  api: ApiClient,
  adminToken: string,
  name: string,
  count: number,
  perConcert = SCHEDULES_PER_CONCERT,
): Promise<{ concertIds: string[]; scheduleIds: string[] }> {
  const concertIds: string[] = [];
  const scheduleIds: string[] = [];
  for (let made = 0; made < count; made += perConcert) {
    const n = Math.min(perConcert, count - made);
    const c = asObject(
      await api.must('POST', '/api/v1/admin/concerts', 201, {
        token: adminToken,
        body: {
          name: `${name} ${concertIds.length + 1}`,
          schedules: Array.from({ length: n }, (_, i) => ({
            startsAt: new Date(Date.UTC(2030, 0, 1 + made + i, 19)).toISOString(),
            seatCount: SEATS,
            price: PRICE,
          })),
        },
      }),
      'concert',
    );
    concertIds.push(str(c, 'id', 'concert'));
    for (const s of asArray(c.schedules, 'concert.schedules'))
      scheduleIds.push(str(asObject(s, 'schedule'), 'id', 'schedule'));
  }
  return { concertIds, scheduleIds };
}

/**
 * Refreshes PostgreSQL's statistics of the tables the setup just filled. A real sale's concert is
 * created well ahead and autovacuum has analyzed it by the time the sale opens; here the loads
 * start seconds after 1.2 M seat rows were written, and with the statistics of empty tables the
 * planner reads every seat row to find one schedule's (hundreds of ms a query).
 */
async function analyzeSeats(databaseUrl: string): Promise<void> {
  await withDatabase(
    databaseUrl,
    (db) => db.query('ANALYZE concert_schedules, schedule_seats, seat_reservations'),
    'stampede-bench-setup',
  );
}

// ---- the ticketing flow (closed model) --------------------------------------------------------

export interface FlowResult {
  mode: string;
  vus: number;
  seconds: number;
  iterations: number;
  steps: FlowRun['steps'];
  cpu: CpuSplit;
  audit: SeatRunAudit;
  /** Seconds into the run when every flow concert was sold out (the users stopped there). */
  soldOutAt?: number;
}

/** The flow for --duration seconds, then its audit over the flow concerts' schedules. */
async function runFlow(
  mode: string,
  base: string,
  users: DrillUsers,
  flow: { concertIds: string[]; scheduleIds: string[] },
  databaseUrl: string,
  scope: CpuScope,
  opts: BenchOptions,
): Promise<FlowResult> {
  log(`${mode} flow: ${users.ids.length} virtual users for ${opts.duration} s`);
  const m = await measured(scope, null, () => runTicketingFlow(base, users, flow.concertIds, opts.duration));
  const { seen, soldOutAt } = m.run;
  const all = m.run.steps.find((s) => s.step === ALL_REQUESTS)?.figures;
  log(
    `${mode} flow: ${fmt(m.run.iterations)} iterations, ${fmt(seen.paid.length)} paid, all requests p50 ${ms(all?.p50 ?? Number.NaN)} p95 ${ms(all?.p95 ?? Number.NaN)} p99 ${ms(all?.p99 ?? Number.NaN)} ms` +
      (soldOutAt === undefined ? '' : `; every flow concert sold out after ${soldOutAt.toFixed(1)} s`),
  );
  const audit = await auditSeatRun(databaseUrl, flow.scheduleIds, seen);
  log(`${mode} flow audit: ${audit.text}`);
  return {
    mode,
    vus: users.ids.length,
    seconds: m.run.seconds,
    iterations: m.run.iterations,
    steps: m.run.steps,
    cpu: m.cpu,
    audit,
    soldOutAt,
  };
}

// ---- one server mode --------------------------------------------------------------------------

interface ModeResult {
  rows: ResultRow[];
  flow: FlowResult;
}

async function runServer(
  mode: 'embedded' | 'cluster',
  bare: Bare,
  opts: BenchOptions,
  cleanups: Cleanups,
): Promise<ModeResult> {
  const serverOpts = { ...opts, serverEnv: { ...SERVER_ENV, ...opts.serverEnv } };
  return withServerUnderTest(mode, cleanups, serverOpts, 32, async (sut, api) => {
    const base = sut.server.url;
    const admin = sut.adminToken;
    const scope: CpuScope = { serverPid: sut.server.pid, pgRoot: sut.pgRoot, pgDb: sut.pgDb };
    const t0 = Date.now();
    const hotUsers = await createUsers(api, admin, HOT_USERS, 'hot', log);
    const spreadUsers = await createUsers(api, admin, SPREAD_USERS, 'spread', log);
    const flowUsers = await createUsers(api, admin, opts.extra.vus, 'flow', log);
    await chargeAll(api, flowUsers.tokens, POINTS, `flow-${mode}`);
    const warm = await createSchedules(api, admin, 'bench warm-up', WARM_SCHEDULES);
    const hot = await createSchedules(api, admin, 'bench hot', 1);
    const spread = await createSchedules(api, admin, 'bench spread', SPREAD_SCHEDULES);
    const flow = await createSchedules(
      api,
      admin,
      'bench flow',
      FLOW_CONCERTS * FLOW_SCHEDULES,
      FLOW_SCHEDULES,
    );
    await analyzeSeats(sut.databaseUrl);
    log(
      `${mode}: ${fmt(HOT_USERS + SPREAD_USERS + opts.extra.vus)} users, ` +
        `${fmt(WARM_SCHEDULES + 1 + SPREAD_SCHEDULES + FLOW_CONCERTS * FLOW_SCHEDULES)} schedules of ${fmt(SEATS)} seats (analyzed) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const hotAuth = hotUsers.tokens.map((t) => `Bearer ${t}`);
    const spreadAuth = spreadUsers.tokens.map((t) => `Bearer ${t}`);
    const rng = mulberry32(42);

    log(`${mode}: warm-up ${opts.warmup} s`);
    await seatLoad(
      {
        base,
        auth: hotAuth,
        userIds: null,
        next: (n) => ({
          user: n % HOT_USERS,
          path: HOLD_ROUTE,
          body: randomHold(rng, warm.scheduleIds[n % WARM_SCHEDULES]),
        }),
        seconds: opts.warmup,
      },
      opts.connections,
    );

    /** The bare route, then `label`'s load, then its audit over `scheduleIds` (with `earlier` seen). */
    const scenario = async (
      label: string,
      bareRun: () => Promise<SeatRun>,
      route: string,
      load: Omit<SeatLoad, 'base' | 'seconds'>,
      scheduleIds: readonly string[],
      earlier?: SeatRun,
    ): Promise<SeatRun> => {
      const b = await bareRun();
      const r = asRun(
        await measured(scope, { base, committer: HOLD_COMMITTER, route }, () =>
          seatLoad({ ...load, base, seconds: opts.duration }, opts.connections),
        ),
      );
      logRun(label, r);
      r.bare = b;
      const seen: SeatRunSeen = earlier
        ? { ...r, held: earlier.held, inflightHolders: earlier.inflightHolders }
        : r;
      r.audit = await auditSeatRun(sut.databaseUrl, scheduleIds, seen);
      log(`${label} audit: ${r.audit.text}`);
      return r;
    };

    const hotRun = await scenario(
      `${mode} hot schedule`,
      () => bare.holds(`bare (before ${mode} hot schedule)`),
      HOLD_ROUTE,
      {
        auth: hotAuth,
        userIds: hotUsers.ids,
        next: (n) => ({ user: n % HOT_USERS, path: HOLD_ROUTE, body: randomHold(rng, hot.scheduleIds[0]) }),
      },
      hot.scheduleIds,
    );

    const spreadRun = await scenario(
      `${mode} 1,000 schedules`,
      () => bare.holds(`bare (before ${mode} 1,000 schedules)`),
      HOLD_ROUTE,
      {
        auth: spreadAuth,
        userIds: spreadUsers.ids,
        next: (n) => {
          const block = Math.floor(n / SPREAD_SCHEDULES) % BLOCKS;
          const k = between(rng, 1, MAX_SEATS_PER_HOLD);
          return {
            user: n % SPREAD_USERS,
            path: HOLD_ROUTE,
            body: holdBody(spread.scheduleIds[n % SPREAD_SCHEDULES], block * MAX_SEATS_PER_HOLD + 1, k),
          };
        },
      },
      spread.scheduleIds,
    );

    // Pay: every holder of the spread run is charged, then each of its holds is paid once by its
    // holder, in hold order: as many payments as there were holds, however long they take.
    const holds = spreadRun.held;
    if (holds.length === 0)
      throw new Error(`${mode}: the 1,000-schedules run held nothing, so nothing can be paid`);
    const payers = [...new Set(spreadRun.heldBy)];
    await chargeAll(
      api,
      payers.map((u) => spreadUsers.tokens[u]),
      POINTS,
      `spread-${mode}`,
    );
    log(`${mode}: ${fmt(payers.length)} holders charged ${fmt(POINTS)} points`);
    const payRun = await scenario(
      `${mode} pay`,
      () => bare.pays(`bare (before ${mode} pay)`),
      PAY_ROUTE,
      {
        auth: spreadAuth,
        userIds: spreadUsers.ids,
        amount: holds.length,
        next: (n) => ({
          user: spreadRun.heldBy[n],
          path: `${HOLD_ROUTE}/${holds[n].reservationId}/pay`,
          reservationId: holds[n].reservationId,
        }),
      },
      spread.scheduleIds,
      spreadRun,
    );

    const flowRun = await runFlow(mode, base, flowUsers, flow, sut.databaseUrl, scope, opts);

    return {
      rows: [
        {
          scenario: `hot schedule (${fmt(SEATS)} seats, ${fmt(HOT_USERS)} users)`,
          short: 'hot',
          mode,
          ...hotRun,
        },
        {
          scenario: `${fmt(SPREAD_SCHEDULES)} schedules (${fmt(SPREAD_USERS)} users)`,
          short: 'spread',
          mode,
          ...spreadRun,
        },
        { scenario: 'pay own hold', short: 'pay', mode, ...payRun },
      ],
      flow: flowRun,
    };
  });
}

// ---- report -----------------------------------------------------------------------------------

/** 201 for holds, 200 for payments. */
function wins(r: SeatRun): number {
  return (r.answers['201'] ?? 0) + (r.answers['200'] ?? 0);
}

function answersText(answers: Record<string, number>, skip: (label: string) => boolean): string {
  return (
    Object.entries(answers)
      .filter(([label]) => !skip(label))
      .map(([label, n]) => `${label}: ${fmt(n)}`)
      .join(', ') || '0'
  );
}

function table(results: readonly ResultRow[], bareRows: readonly ResultRow[]): string {
  const head = [
    'scenario',
    'mode',
    'req/s',
    'held or paid/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    '201 held / 200 paid',
    '409 SEAT_UNAVAILABLE',
    'other answers',
    'bare alongside: req/s, p99 ms',
    'req/s ÷ bare',
    'p99 ÷ bare',
  ];
  const rows = results.map((r) => {
    const isBare = bareRows.includes(r);
    const b = r.bare ?? r;
    const other = answersText(r.answers, (l) => l === '200' || l === '201' || l === '409 SEAT_UNAVAILABLE');
    return [
      r.scenario,
      r.mode,
      fmt(r.rps),
      fmt(wins(r) / r.seconds),
      ms(r.p50),
      ms(r.p95),
      ms(r.p99),
      fmt(wins(r)),
      fmt(r.answers['409 SEAT_UNAVAILABLE'] ?? 0),
      r.errors ? `${other}, errors: ${fmt(r.errors)}` : other,
      isBare ? '-' : `${fmt(b.rps)}, ${ms(b.p99)}`,
      isBare ? '1.00' : (r.rps / b.rps).toFixed(2),
      isBare ? '1.00' : (r.p99 / b.p99).toFixed(2),
    ];
  });
  return paddedTable(head, rows);
}

function flowTable(flows: readonly FlowResult[]): string {
  const head = ['flow step', 'mode', 'count', 'per s', 'p50 ms', 'p95 ms', 'p99 ms', 'answers'];
  const rows = flows.flatMap((f) =>
    f.steps.map(({ step, figures: s }) => [
      step,
      f.mode,
      fmt(s.count),
      fmt(s.count / f.seconds),
      ms(s.p50),
      ms(s.p95),
      ms(s.p99),
      answersText(s.answers, () => false),
    ]),
  );
  return paddedTable(head, rows);
}

/** The flow's table (after a blank line), or nothing when no server mode ran. */
function flowLines(flows: readonly FlowResult[], opts: BenchOptions): string[] {
  if (flows.length === 0) return [];
  const out = [
    '',
    `ticketing flow: ${opts.extra.vus} virtual users (each its own user, closed loop, no think time, undici), ${opts.duration} s: ` +
      `read a concert's schedules → read a seat map → hold 1–4 seats it shows free (another pick on 409, at most ${FLOW_HOLD_ATTEMPTS}) → pay`,
    '',
    flowTable(flows),
  ];
  for (const f of flows)
    if (f.soldOutAt !== undefined)
      out.push(
        `  ${f.mode}: every flow concert was sold out after ${f.soldOutAt.toFixed(1)} s; the users stopped there`,
      );
  return out;
}

/** The flow's target and each mode's verdict (after a blank line), or nothing without a flow. */
function targetLines(flows: readonly FlowResult[], opts: BenchOptions): string[] {
  if (flows.length === 0) return [];
  const out = [
    '',
    `target (ticketing flow, all requests): p95 < ${FLOW_TARGET_P95_MS} ms at ${opts.extra.vus} users (the original system: p95 11.8 s at 150)`,
  ];
  for (const f of flows) {
    const p95 = f.steps.find((s) => s.step === ALL_REQUESTS)?.figures.p95 ?? Number.NaN;
    out.push(`  ${f.mode.padEnd(8)} p95 ${ms(p95)} ms ${p95 < FLOW_TARGET_P95_MS ? 'MET' : 'MISSED'}`);
  }
  return out;
}

/** The printed report: tables, machine, target, audits, CPU split, group commit. */
export function report(
  results: readonly ResultRow[],
  bareRows: readonly ResultRow[],
  flows: readonly FlowResult[],
  m: Machine,
  opts: BenchOptions,
): string {
  const out: string[] = [];
  out.push(
    `connections ${opts.connections}, ${opts.duration} s per measured run (after a ${opts.warmup} s warm-up), autocannon, 127.0.0.1`,
  );
  out.push('');
  out.push(table(results, bareRows));
  out.push(...flowLines(flows, opts));
  out.push('');
  out.push(
    `machine: ${m.cpus} × ${m.model}, ${m.memGiB} GiB, ${m.os}, node ${m.node}; ${new Date().toISOString().slice(0, 10)}`,
  );
  out.push(...targetLines(flows, opts));
  out.push('');
  out.push('audits (PostgreSQL after each run):');
  for (const r of results) if (r.audit) out.push(`  ${r.mode} ${r.scenario}: ${r.audit.text}`);
  for (const f of flows) out.push(`  ${f.mode} ticketing flow: ${f.audit.text}`);
  out.push('');
  out.push(
    `where the CPU went during each measured run (cores of ${m.cpus}; kernel = softirq, mostly loopback TCP; other = not ours):`,
  );
  const cpuLine = (mode: string, short: string, c: CpuSplit, perAnswer: string) =>
    `  ${mode.padEnd(8)} ${short.padEnd(8)} server ${c.server.toFixed(2)}, postgres ${c.postgres.toFixed(2)}, ` +
    `redis ${c.redis.toFixed(2)}, load tool ${c.loadgen.toFixed(2)}, kernel ${c.softirq.toFixed(2)}, other ${c.other.toFixed(2)} (machine ${c.machine.toFixed(2)})${perAnswer}`;
  for (const r of results) {
    out.push(
      cpuLine(r.mode, r.short, r.cpu, `; server CPU ${fmt((r.cpu.server * 1e6) / r.rps)} µs per answer`),
    );
    if (r.bare)
      out.push(
        cpuLine(
          '',
          '+ bare',
          r.bare.cpu,
          `; server CPU ${fmt((r.bare.cpu.server * 1e6) / r.bare.rps)} µs per answer (the bare run just before)`,
        ),
      );
  }
  for (const f of flows) {
    const all = f.steps.find((s) => s.step === ALL_REQUESTS)?.figures;
    const perRequest = all?.count
      ? `; server CPU ${fmt((f.cpu.server * f.seconds * 1e6) / all.count)} µs per request`
      : '';
    out.push(cpuLine(f.mode, 'flow', f.cpu, perRequest));
  }
  const withCommit = results.filter((r) => r.commit?.batches);
  if (withCommit.length) {
    out.push('');
    out.push(`group commit of holds (${HOLD_COMMITTER}) during each measured run (from /metrics):`);
    for (const r of withCommit) {
      const k = r.commit as CommitFigures;
      out.push(
        `  ${r.mode.padEnd(8)} ${r.short.padEnd(8)} ${fmt(k.batches)} batches (${fmt(k.batchesPerSec)}/s), ` +
          `mean ${k.meanBatch.toFixed(1)} holds, mean commit ${k.meanCommitMs.toFixed(2)} ms, ` +
          `${k.commitBusy.toFixed(2)} tx in flight on average; server-side mean ${k.serverMeanMs.toFixed(2)} ms; ` +
          `sizes ${k.batchHistogram}`,
      );
    }
  }
  out.push('', `server env: ${JSON.stringify({ ...SERVER_ENV, ...opts.serverEnv })}`);
  if (opts.serverRoot) out.push('', `server under test: ${opts.serverRoot}/dist/cli.js`);
  return out.join('\n');
}

type Figures = Omit<
  SeatRun,
  'held' | 'heldBy' | 'paid' | 'inflightHolders' | 'inflightPays' | 'unanswered' | 'bare'
> & {
  bare?: Figures;
};

/** A run without its per-request lists, for --json. */
function figures(r: SeatRun): Figures {
  const {
    held: _a,
    heldBy: _b,
    paid: _c,
    inflightHolders: _d,
    inflightPays: _e,
    unanswered: _f,
    bare,
    ...rest
  } = r;
  return { ...rest, bare: bare && figures(bare) };
}

/** Runs the benchmark for `argv`; resolves to the exit code (1 when an audit failed). */
export async function main(argv: readonly string[], cleanups: Cleanups): Promise<number> {
  const opts = parseBenchArgs(argv, {
    connections: 100,
    duration: 10,
    quickDuration: 3,
    warmup: 3,
    quickWarmup: 1,
    modes: ['bare', 'embedded', 'cluster'],
    allowedModes: ['bare', 'embedded', 'cluster'],
    extra: { vus: [150, 150] },
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  const m = machine();
  log(
    `machine: ${m.cpus} × ${m.model}, node ${m.node}; ${opts.connections} connections, ${opts.duration} s runs, ${opts.extra.vus} flow users`,
  );
  const bare = await startBare(opts, cleanups);
  const bareRows: ResultRow[] = [
    { scenario: 'bare Fastify hold route', short: 'bare', mode: '-', ...(await bare.holds('bare holds')) },
    { scenario: 'bare Fastify pay route', short: 'bare pay', mode: '-', ...(await bare.pays('bare pays')) },
  ];
  const results: ResultRow[] = [...bareRows];
  const flows: FlowResult[] = [];
  for (const mode of ['embedded', 'cluster'] as const) {
    if (!opts.modes.has(mode)) continue;
    const r = await runServer(mode, bare, opts, cleanups);
    results.push(...r.rows);
    flows.push(r.flow);
  }
  await bare.stop();
  await cleanups.runAll();
  process.stdout.write(`\n${report(results, bareRows, flows, m, opts)}\n`);
  if (opts.jsonFile) {
    writeFileSync(
      opts.jsonFile,
      JSON.stringify(
        {
          machine: m,
          connections: opts.connections,
          duration: opts.duration,
          vus: opts.extra.vus,
          results: results.map(figures),
          flows,
        },
        null,
        2,
      ),
    );
  }
  if (results.some((r) => r.audit && !r.audit.ok) || flows.some((f) => !f.audit.ok)) {
    process.stderr.write('bench: an audit FAILED (see above)\n');
    return 1;
  }
  return 0;
}

if (isMain(import.meta.url)) runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE);
