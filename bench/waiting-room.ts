/**
 * Waiting-room benchmark. Importing this module does nothing; `npm run bench:waiting-room` builds
 * it and runs main().
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { ApiClient } from '../src/drill/api-client.js';
import {
  type AdmissionLogFacts,
  readAdmissionLogFacts,
  readAdmissions,
  withDatabase,
} from '../src/drill/audit-queries.js';
import { serverEntry } from '../src/drill/process.js';
import { createUsers, type DrillUsers } from '../src/drill/scenarios/users.js';
import { asObject, str } from '../src/drill/shape.js';
import { type CpuScope, type CpuSplit, cpuDelta, cpuSnapshot } from './lib/cpu.js';
import { fmt, type Machine, machine, ms, paddedTable } from './lib/format.js';
import { type LoadResult, runLoad } from './lib/load.js';
import { type BenchOptions, parseBenchArgs } from './lib/options.js';
import { fdLimit, percentile, rssMiB } from './lib/process-stats.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';
import { scrape } from './lib/server-metrics.js';
import { startBareServer, withServerUnderTest } from './lib/servers.js';
import { openSse, type SseEvent, type SseStream } from './lib/sse.js';

export const USAGE = `Waiting-room benchmark: npm run bench:waiting-room [-- --streams 15000 --surge 10000 --quick]

One run on this machine, the drill's spawner for the servers, autocannon for request load and a
lean raw-socket SSE client for the event streams:
  bare      bench/bare-server.mjs: a bare Fastify GET and POST answering an entry of the real size,
            and an event stream that is only held open: the ceiling for "HTTP on Node on this box"
  embedded  \`node dist/cli.js serve\` with a fresh DATA_DIR (embedded PostgreSQL, memory gate)
  cluster   the same with DATABASE_URL (a fresh database, dropped at the end) and REDIS_URL (a
            random key prefix, deleted at the end): the Redis gate

Figures per server mode:
  joins in a surge    SURGE users join one room at once (POST entries, each user once), as fast as
                      --connections allow: joins/s and latency; each 201 is a committed entry
  status reads        GET entries/me by those SURGE users, round-robin, for --duration seconds
  streams held        STREAMS users (in line in a paused room) open their event streams
                      (GET .../entries/me/events?access_token=); how many are open after
                      --duration seconds of holding, the server's RSS and CPU while it holds them
  admission → event   the room resumes with maxActive 20: every \`admitted\` event that arrives frees
                      its slot (DELETE entries/me), so the next in line is admitted; the time from
                      the admission recorded in PostgreSQL (waiting_room_admissions.admitted_at) to
                      the event's arrival, p50/p95/p99, with the other streams still open
The bare route is measured again right before each request scenario (and holds as many streams):
ratios compare runs made side by side. After each mode the admission log is checked in PostgreSQL
(nobody twice, admissions in join order).

Options:
  --connections N   concurrent connections of the request loads (default 100)
  --duration S      seconds of the read run and of holding the streams (default 10; --quick: 3)
  --streams N       event streams to open (default 15000; --quick: 2000), capped below \`ulimit -n\`
  --surge N         users in the join surge (default 10000; --quick: 2000)
  --admissions N    admissions to time (default 1000; --quick: 200), within 60 s
  --quick           small numbers and short runs, for a smoke check
  --modes LIST      comma list of bare,embedded,cluster (default all three; bare always runs)
  --server-env LIST extra env for the server under test
  --profile DIR     run the server under test with \`node --cpu-prof --cpu-prof-dir=DIR\`
  --server-root DIR run DIR/dist/cli.js (a built worktree of an older commit) as the server under test
  --json FILE       also write every figure as JSON
  -h, --help        this text
Env: BENCH_PG_URL, BENCH_REDIS_URL as for bench:coupons. Traffic goes to 127.0.0.1 only; every run
is bounded in time and count.
`;

const ENTRIES = (room: string) => `/api/v1/waiting-rooms/${room}/entries`;
const LATENCY_MAX_ACTIVE = 20;
const LATENCY_ADMIT_PER_SECOND = 200;
const LATENCY_DEADLINE_MS = 60_000;
/** Streams being opened at once. */
const OPEN_CONCURRENCY = 200;
const OPEN_DEADLINE_MS = 180_000;
/** File descriptors kept free for everything else (PostgreSQL, load connections, logs). */
const FD_MARGIN = 1_000;

export interface Row {
  scenario: string;
  mode: string;
  /** What the throughput column says (req/s, joins/s, streams open, admissions/s). */
  throughput: string;
  /** Numeric throughput for the ratio. */
  value: number;
  p50: number;
  p95: number;
  p99: number;
  /** The bare run alongside, when there is one. */
  bare?: { value: number; text: string; p99: number };
  /** Server RSS (MiB) at the end of the run, and cores it used during it. */
  rssMiB?: number;
  cpu?: CpuSplit;
  notes: string[];
}

function statusText(statuses: Record<string, number>, errors: number): string {
  const s = Object.entries(statuses)
    .map(([k, v]) => `${k}: ${fmt(v)}`)
    .join(', ');
  return errors ? `${s}, errors: ${fmt(errors)}` : s;
}

// ---- event streams ------------------------------------------------------------------------------

export interface StreamSet {
  /** Streams that answered 200 and sent their first event. */
  opened: number;
  /** Streams that failed before their first event (refused, non-200, reset). */
  failed: number;
  firstError: string;
  /** Streams that ended after opening (the server closed them or they broke). */
  endedAfterOpen: number;
  /** Open right now. */
  open(): number;
  /** ms from connect to the first event, per opened stream. */
  openMs: number[];
  /** Seconds the whole opening took. */
  openSeconds: number;
  closeAll(): void;
}

/**
 * Opens one stream per path, OPEN_CONCURRENCY at a time, each counted open at its first event.
 * `onEvent(i, e)` hears every event of stream i.
 */
async function openStreams(
  port: number,
  paths: readonly string[],
  label: string,
  onEvent?: (i: number, e: SseEvent) => void,
): Promise<StreamSet> {
  const streams: (SseStream | null)[] = new Array(paths.length).fill(null);
  const openMs: number[] = [];
  const set: StreamSet = {
    opened: 0,
    failed: 0,
    firstError: '',
    endedAfterOpen: 0,
    open: () => set.opened - set.endedAfterOpen,
    openMs,
    openSeconds: 0,
    closeAll() {
      for (const s of streams) s?.close();
    },
  };
  const t0 = Date.now();
  let next = 0;
  let lastLog = t0;
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const deadline = setTimeout(() => {
      log(`${label}: opening still unfinished after ${OPEN_DEADLINE_MS / 1000} s; going on with what opened`);
      next = paths.length;
      resolve();
    }, OPEN_DEADLINE_MS);
    const pump = () => {
      while (inFlight < OPEN_CONCURRENCY && next < paths.length) {
        const i = next++;
        inFlight++;
        const started = Date.now();
        let first = true;
        const settle = () => {
          inFlight--;
          if (Date.now() - lastLog > 5_000) {
            lastLog = Date.now();
            log(`${label}: ${fmt(set.opened)} open, ${fmt(set.failed)} failed, ${fmt(next)} asked`);
          }
          if (next >= paths.length && inFlight === 0) {
            clearTimeout(deadline);
            resolve();
          } else pump();
        };
        streams[i] = openSse(port, paths[i], {
          onEvent(e) {
            if (first) {
              first = false;
              set.opened++;
              openMs.push(Date.now() - started);
              settle();
            }
            onEvent?.(i, e);
          },
          onClose(error) {
            if (first) {
              first = false;
              set.failed++;
              set.firstError ||= error ?? 'closed before its first event';
              settle();
            } else set.endedAfterOpen++;
          },
        });
      }
    };
    pump();
    if (paths.length === 0) resolve();
  });
  set.openSeconds = (Date.now() - t0) / 1000;
  openMs.sort((a, b) => a - b);
  return set;
}

// ---- request loads ------------------------------------------------------------------------------

interface Bare {
  port: number;
  pid: number;
  reads(seconds: number, connections: number): Promise<LoadResult>;
  joins(amount: number, connections: number): Promise<LoadResult>;
  stop(): Promise<void>;
}

async function startBare(cleanups: Cleanups): Promise<Bare> {
  const { server, stop } = await startBareServer(cleanups);
  // The bare routes take no auth; they are sent tokens of a real JWT's length so the load tool does
  // the same work per request and the request bytes match.
  const auth = Array.from({ length: 1_000 }, () => `Bearer ${randomBytes(150).toString('base64url')}`);
  return {
    port: server.port,
    pid: server.pid,
    reads: (seconds, connections) =>
      runLoad({
        url: server.url,
        connections,
        seconds,
        request: (n) => ({
          method: 'GET',
          path: `${ENTRIES('1')}/me`,
          headers: { authorization: auth[n % auth.length] },
        }),
      }),
    joins: (amount, connections) =>
      runLoad({
        url: server.url,
        connections,
        amount,
        timeoutSec: 30,
        request: (n) => ({ path: ENTRIES('1'), headers: { authorization: auth[n % auth.length] } }),
      }),
    stop,
  };
}

async function createRoom(
  api: ApiClient,
  adminToken: string,
  body: Record<string, unknown>,
): Promise<string> {
  const r = await api.must('POST', '/api/v1/admin/waiting-rooms', 201, { token: adminToken, body });
  return str(asObject(r, 'room'), 'id', 'room');
}

/** Every user of `users` (by index range) joins `room`, each once; resolves to the load figures. */
function joinAll(url: string, room: string, auth: readonly string[], connections: number) {
  return runLoad({
    url,
    connections,
    amount: auth.length,
    timeoutSec: 30,
    request: (n) => ({ path: ENTRIES(room), headers: { authorization: auth[n] } }),
  });
}

/** CPU and RSS around `run`. */
async function measured<T>(
  scope: CpuScope,
  run: () => Promise<T>,
): Promise<{ r: T; cpu: CpuSplit; rss: number }> {
  const c0 = cpuSnapshot(scope);
  const t0 = performance.now();
  const r = await run();
  const seconds = (performance.now() - t0) / 1000;
  return { r, cpu: cpuDelta(c0, cpuSnapshot(scope), seconds), rss: rssMiB(scope.serverPid) };
}

function loadRow(
  scenario: string,
  mode: string,
  unit: string,
  r: LoadResult,
  ok: number,
): Omit<Row, 'notes'> {
  const value = ok / r.seconds;
  return { scenario, mode, throughput: `${fmt(value)} ${unit}`, value, p50: r.p50, p95: r.p95, p99: r.p99 };
}

// ---- one server mode ----------------------------------------------------------------------------

interface Sizes {
  streams: number;
  surge: number;
  admissions: number;
}

interface ModeResult {
  rows: Row[];
  logs: { room: string; facts: AdmissionLogFacts }[];
}

async function runServer(
  mode: 'embedded' | 'cluster',
  sizes: Sizes,
  bare: Bare,
  opts: BenchOptions,
  cleanups: Cleanups,
): Promise<ModeResult> {
  return withServerUnderTest(mode, cleanups, opts, 16, async (sut, api) => {
    const base = sut.server.url;
    const admin = sut.adminToken;
    const scope: CpuScope = { serverPid: sut.server.pid, pgRoot: sut.pgRoot, pgDb: sut.pgDb };
    const rows: Row[] = [];
    const logs: ModeResult['logs'] = [];
    const t0 = Date.now();
    const users: DrillUsers = await createUsers(api, admin, Math.max(sizes.streams, sizes.surge), 'wr', log);
    log(`${mode}: ${fmt(users.ids.length)} users in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const auth = users.tokens.map((t) => `Bearer ${t}`);

    // Warm-up: joins (first pass 201, then 200) and reads on a room of their own.
    const warmRoom = await createRoom(api, admin, {
      name: 'bench warm-up',
      maxActive: 100,
      admitPerSecond: 100,
    });
    const warmN = Math.min(auth.length, 2_000);
    log(`${mode}: warm-up ${opts.warmup} s`);
    await runLoad({
      url: base,
      connections: opts.connections,
      seconds: opts.warmup,
      request: (n) =>
        n % 2 === 0
          ? { path: ENTRIES(warmRoom), headers: { authorization: auth[(n >> 1) % warmN] } }
          : {
              method: 'GET',
              path: `${ENTRIES(warmRoom)}/me`,
              headers: { authorization: auth[(n >> 1) % warmN] },
            },
    });

    // (4) joins during a surge: every surge user once, as fast as the connections go.
    const surgeRoom = await createRoom(api, admin, {
      name: 'bench surge',
      maxActive: 100,
      admitPerSecond: 50,
      idleTimeoutSeconds: 3_600,
    });
    const bareJoins = await bare.joins(sizes.surge, opts.connections);
    log(
      `bare joins: ${fmt((bareJoins.statuses['201'] ?? 0) / bareJoins.seconds)}/s p99 ${ms(bareJoins.p99)} ms`,
    );
    const surge = await measured(scope, () =>
      joinAll(base, surgeRoom, auth.slice(0, sizes.surge), opts.connections),
    );
    const joined = surge.r.statuses['201'] ?? 0;
    log(
      `${mode} surge: ${fmt(joined / surge.r.seconds)} joins/s, p99 ${ms(surge.r.p99)} ms, ${statusText(surge.r.statuses, surge.r.errors)}`,
    );
    rows.push({
      ...loadRow(
        `joins in a surge (POST entries, ${fmt(sizes.surge)} users at once)`,
        mode,
        'joins/s',
        surge.r,
        joined,
      ),
      bare: {
        value: (bareJoins.statuses['201'] ?? 0) / bareJoins.seconds,
        text: `${fmt((bareJoins.statuses['201'] ?? 0) / bareJoins.seconds)}/s`,
        p99: bareJoins.p99,
      },
      rssMiB: surge.rss,
      cpu: surge.cpu,
      notes: joined === sizes.surge ? [] : [`answers ${statusText(surge.r.statuses, surge.r.errors)}`],
    });

    // (1) status reads by the surge users, round-robin.
    const bareReads = await bare.reads(opts.duration, opts.connections);
    log(`bare reads: ${fmt(bareReads.rps)} req/s p99 ${ms(bareReads.p99)} ms`);
    const reads = await measured(scope, () =>
      runLoad({
        url: base,
        connections: opts.connections,
        seconds: opts.duration,
        request: (n) => ({
          method: 'GET',
          path: `${ENTRIES(surgeRoom)}/me`,
          headers: { authorization: auth[n % sizes.surge] },
        }),
      }),
    );
    const read200 = reads.r.statuses['200'] ?? 0;
    log(`${mode} reads: ${fmt(read200 / reads.r.seconds)} req/s, p99 ${ms(reads.r.p99)} ms`);
    rows.push({
      ...loadRow(`status reads (GET entries/me, ${fmt(sizes.surge)} users)`, mode, 'req/s', reads.r, read200),
      bare: {
        value: (bareReads.statuses['200'] ?? 0) / bareReads.seconds,
        text: `${fmt((bareReads.statuses['200'] ?? 0) / bareReads.seconds)} req/s`,
        p99: bareReads.p99,
      },
      rssMiB: reads.rss,
      cpu: reads.cpu,
      notes: read200 === reads.r.responses ? [] : [`answers ${statusText(reads.r.statuses, reads.r.errors)}`],
    });
    logs.push({
      room: surgeRoom,
      facts: await withDatabase(sut.databaseUrl, (db) => readAdmissionLogFacts(db, surgeRoom)),
    });

    // (2) streams held: everyone waits in a paused room, then opens their stream.
    const n = sizes.streams;
    const streamRoom = await createRoom(api, admin, {
      name: 'bench streams',
      maxActive: LATENCY_MAX_ACTIVE,
      admitPerSecond: LATENCY_ADMIT_PER_SECOND,
      idleTimeoutSeconds: 3_600,
      passTtlSeconds: 600,
    });
    await patchRoom(base, admin, streamRoom, { paused: true });
    const lineUp = await joinAll(base, streamRoom, auth.slice(0, n), opts.connections);
    if ((lineUp.statuses['201'] ?? 0) !== n)
      log(`${mode}: ${fmt(n)} joins for the streams answered ${statusText(lineUp.statuses, lineUp.errors)}`);

    // The bare server holds as many streams, side by side, then lets them go.
    const bareSet = await openStreams(
      bare.port,
      Array.from({ length: n }, () => `${ENTRIES('1')}/me/events`),
      'bare streams',
    );
    await sleepMs(opts.duration * 1_000);
    const bareHeld = bareSet.open();
    const bareRss = rssMiB(bare.pid);
    bareSet.closeAll();
    log(`bare streams: ${fmt(bareHeld)} of ${fmt(n)} open, RSS ${fmt(bareRss)} MiB`);

    const rssBefore = rssMiB(sut.server.pid);
    let freeing: (userIndex: number, e: SseEvent) => void = () => {};
    const paths = users.tokens.slice(0, n).map((t) => `${ENTRIES(streamRoom)}/me/events?access_token=${t}`);
    const set = await openStreams(sut.server.port, paths, `${mode} streams`, (i, e) => {
      if (e.event === 'admitted') freeing(i, e);
    });
    log(
      `${mode} streams: ${fmt(set.opened)} opened in ${set.openSeconds.toFixed(1)} s (${fmt(set.failed)} failed${set.firstError ? `, first: ${set.firstError}` : ''})`,
    );
    const hold = await measured(scope, () => sleepMs(opts.duration * 1_000));
    const held = set.open();
    const m = await scrape(base).catch(() => []);
    const serverSays = m.find((r) => r.name === 'stampede_open_streams')?.value ?? Number.NaN;
    log(
      `${mode} streams: ${fmt(held)} open after ${opts.duration} s (server counts ${fmt(serverSays)}), RSS ${fmt(hold.rss)} MiB (${fmt(rssBefore)} before), server CPU ${hold.cpu.server.toFixed(2)} cores`,
    );
    rows.push({
      scenario: `event streams held (${fmt(n)} opened, ${opts.duration} s; latency = open → first event)`,
      mode,
      throughput: `${fmt(held)} open`,
      value: held,
      p50: percentile(set.openMs, 50),
      p95: percentile(set.openMs, 95),
      p99: percentile(set.openMs, 99),
      bare: { value: bareHeld, text: `${fmt(bareHeld)} open, RSS ${fmt(bareRss)} MiB`, p99: Number.NaN },
      rssMiB: hold.rss,
      cpu: hold.cpu,
      notes: [
        `RSS ${fmt(hold.rss)} MiB with the streams (${fmt(rssBefore)} MiB before them, ${(((hold.rss - rssBefore) * 1024) / Math.max(1, held)).toFixed(1)} KiB per stream); bare server ${fmt(bareRss)} MiB`,
        `opened in ${set.openSeconds.toFixed(1)} s; server's stampede_open_streams ${fmt(serverSays)}`,
        ...(set.failed ? [`${fmt(set.failed)} failed to open; first: ${set.firstError}`] : []),
      ],
    });

    // (3) admission → `admitted` event: resume; each arriving event frees its slot.
    const leaveAgent = new Agent({ connections: 16 });
    const arrived = new Map<string, number>();
    let leaveErrors = 0;
    const leaves: Promise<void>[] = [];
    let done: () => void = () => {};
    const finished = new Promise<void>((r) => {
      done = r;
    });
    freeing = (i, e) => {
      const userId = users.ids[i];
      if (arrived.has(userId)) return;
      arrived.set(userId, e.at);
      if (arrived.size >= sizes.admissions) done();
      leaves.push(
        request(`${base}${ENTRIES(streamRoom)}/me`, {
          method: 'DELETE',
          headers: { authorization: auth[i] },
          dispatcher: leaveAgent,
        }).then(
          async (res) => {
            await res.body.dump();
            if (res.statusCode !== 204) leaveErrors++;
          },
          () => {
            leaveErrors++;
          },
        ),
      );
    };
    const openAtStart = set.open();
    const cpu0 = cpuSnapshot(scope);
    const tStart = performance.now();
    await patchRoom(base, admin, streamRoom, { paused: false });
    let minOpen = openAtStart;
    const sampler = setInterval(() => {
      minOpen = Math.min(minOpen, set.open());
    }, 200);
    const timedOut = await Promise.race([
      finished.then(() => false),
      sleepMs(LATENCY_DEADLINE_MS).then(() => true),
    ]);
    const latSeconds = (performance.now() - tStart) / 1000;
    await patchRoom(base, admin, streamRoom, { paused: true });
    const latCpu = cpuDelta(cpu0, cpuSnapshot(scope), latSeconds);
    const latRss = rssMiB(sut.server.pid);
    await sleepMs(1_500); // events of the last admissions still on their way
    clearInterval(sampler);
    set.closeAll();
    await Promise.all(leaves);
    await leaveAgent.close();
    const admissions = await withDatabase(sut.databaseUrl, (db) => readAdmissions(db, streamRoom));
    const lat: number[] = [];
    let noEvent = 0;
    for (const a of admissions) {
      const at = arrived.get(a.userId);
      if (at === undefined) noEvent++;
      else lat.push(at - a.admittedAt);
    }
    lat.sort((a, b) => a - b);
    log(
      `${mode} admission → event: ${fmt(lat.length)} timed, p50 ${ms(percentile(lat, 50))} p99 ${ms(percentile(lat, 99))} ms, ${fmt(noEvent)} admitted without an event seen, at least ${fmt(minOpen)} streams open throughout`,
    );
    rows.push({
      scenario: `admission → \`admitted\` event (maxActive ${LATENCY_MAX_ACTIVE}, ≥ ${fmt(minOpen)} streams open)`,
      mode,
      throughput: `${fmt(lat.length / latSeconds)} admissions/s`,
      value: lat.length / latSeconds,
      p50: percentile(lat, 50),
      p95: percentile(lat, 95),
      p99: percentile(lat, 99),
      rssMiB: latRss,
      cpu: latCpu,
      notes: [
        `${fmt(lat.length)} admissions timed from waiting_room_admissions.admitted_at to the event's arrival${timedOut ? ` (stopped by the ${LATENCY_DEADLINE_MS / 1000} s bound before ${fmt(sizes.admissions)})` : ''}; max ${ms(lat.at(-1) ?? Number.NaN)} ms`,
        `${fmt(noEvent)} admitted in PostgreSQL without an event seen (the last ones before the pause may still be on their way); ${leaveErrors} slot frees failed`,
      ],
    });
    logs.push({
      room: streamRoom,
      facts: await withDatabase(sut.databaseUrl, (db) => readAdmissionLogFacts(db, streamRoom)),
    });
    return { rows, logs };
  });
}

async function patchRoom(
  base: string,
  admin: string,
  room: string,
  body: Record<string, unknown>,
): Promise<void> {
  const res = await request(`${base}/api/v1/admin/waiting-rooms/${room}`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200)
    throw new Error(`PATCH room ${room} answered ${res.statusCode}: ${text.slice(0, 200)}`);
}

// ---- report -------------------------------------------------------------------------------------

function table(rows: readonly Row[]): string {
  const head = [
    'scenario',
    'mode',
    'throughput',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'bare alongside',
    '÷ bare',
    'server RSS MiB',
    'server CPU cores',
  ];
  return paddedTable(
    head,
    rows.map((r) => [
      r.scenario,
      r.mode,
      r.throughput,
      ms(r.p50),
      ms(r.p95),
      ms(r.p99),
      r.bare ? `${r.bare.text}${Number.isFinite(r.bare.p99) ? `, p99 ${ms(r.bare.p99)} ms` : ''}` : '-',
      r.bare && r.bare.value > 0 ? (r.value / r.bare.value).toFixed(2) : '-',
      r.rssMiB === undefined ? '-' : fmt(r.rssMiB),
      r.cpu ? r.cpu.server.toFixed(2) : '-',
    ]),
  );
}

export function report(
  rows: readonly Row[],
  logs: readonly { mode: string; room: string; facts: AdmissionLogFacts }[],
  m: Machine,
  opts: BenchOptions,
  sizes: Sizes,
  limit: number,
): string {
  const out: string[] = [];
  out.push(
    `connections ${opts.connections}, ${opts.duration} s reads and holds, ${fmt(sizes.surge)} surge users, ${fmt(sizes.streams)} streams (ulimit -n ${fmt(limit)}), autocannon + raw-socket SSE, 127.0.0.1`,
  );
  out.push('');
  out.push(table(rows));
  out.push('');
  out.push(
    `machine: ${m.cpus} × ${m.model}, ${m.memGiB} GiB, ${m.os}, node ${m.node}; ${new Date().toISOString().slice(0, 10)}`,
  );
  out.push('');
  out.push(
    'targets: 15,000 streams held by one process; admission → event p99 < 1 s with 10,000 streams open',
  );
  for (const r of rows) {
    if (r.scenario.startsWith('event streams')) {
      out.push(
        `  ${r.mode.padEnd(8)} streams held ${fmt(r.value)} ${r.value >= 15_000 ? 'MET' : sizes.streams < 15_000 ? `(asked ${fmt(sizes.streams)} only)` : 'MISSED'}`,
      );
    } else if (r.scenario.startsWith('admission')) {
      const min = Number(/≥ ([\d,]+)/.exec(r.scenario)?.[1].replaceAll(',', '') ?? 0);
      const verdict = r.p99 < 1_000 ? 'MET' : 'MISSED';
      out.push(
        `  ${r.mode.padEnd(8)} admission → event p99 ${ms(r.p99)} ms ${min >= 10_000 ? verdict : `${verdict} at ${fmt(min)} streams (the target is stated for 10,000)`}`,
      );
    }
  }
  out.push('');
  out.push('notes:');
  for (const r of rows) for (const n of r.notes) out.push(`  ${r.mode} ${r.scenario.split(' (')[0]}: ${n}`);
  out.push('');
  out.push('admission logs (PostgreSQL):');
  for (const l of logs) {
    const f = l.facts;
    out.push(
      `  ${l.mode.padEnd(8)} room ${l.room}: ${fmt(f.admissions)} admissions of ${fmt(f.distinctUsers)} users, ${f.admittedTwice} admitted twice, ${f.outOfOrder} out of join order — ${f.admittedTwice === 0 && f.outOfOrder === 0 ? 'OK' : 'FAILED'}`,
    );
  }
  out.push('');
  out.push(
    `where the CPU went (cores of ${m.cpus}; kernel = softirq, mostly loopback TCP; other = not ours):`,
  );
  for (const r of rows) {
    const c = r.cpu;
    if (!c) continue;
    out.push(
      `  ${r.mode.padEnd(8)} ${r.scenario.split(' (')[0].padEnd(28)} server ${c.server.toFixed(2)}, postgres ${c.postgres.toFixed(2)}, redis ${c.redis.toFixed(2)}, load tool ${c.loadgen.toFixed(2)}, kernel ${c.softirq.toFixed(2)}, other ${c.other.toFixed(2)} (machine ${c.machine.toFixed(2)})`,
    );
  }
  if (Object.keys(opts.serverEnv).length) out.push('', `server env: ${JSON.stringify(opts.serverEnv)}`);
  return out.join('\n');
}

/** Runs the benchmark for `argv`; resolves to the exit code (1 when an admission log is wrong). */
export async function main(argv: readonly string[], cleanups: Cleanups): Promise<number> {
  const opts = parseBenchArgs(argv, {
    connections: 100,
    duration: 10,
    quickDuration: 3,
    warmup: 3,
    quickWarmup: 1,
    modes: ['bare', 'embedded', 'cluster'],
    allowedModes: ['bare', 'embedded', 'cluster'],
    extra: { streams: [15_000, 2_000], surge: [10_000, 2_000], admissions: [1_000, 200] },
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  const limit = fdLimit();
  const sizes: Sizes = {
    streams: Math.min(opts.extra.streams, Math.max(1, limit - FD_MARGIN)),
    surge: opts.extra.surge,
    admissions: opts.extra.admissions,
  };
  if (sizes.streams < opts.extra.streams)
    log(`ulimit -n is ${limit}: opening ${fmt(sizes.streams)} streams, not ${fmt(opts.extra.streams)}`);
  const m = machine();
  log(`machine: ${m.cpus} × ${m.model}, node ${m.node}; ulimit -n ${limit}; ${JSON.stringify(sizes)}`);
  const bare = await startBare(cleanups);
  log('bare: warm-up');
  await bare.reads(opts.warmup, opts.connections);
  const rows: Row[] = [];
  const logs: { mode: string; room: string; facts: AdmissionLogFacts }[] = [];
  for (const mode of ['embedded', 'cluster'] as const) {
    if (!opts.modes.has(mode)) continue;
    const r = await runServer(mode, sizes, bare, opts, cleanups);
    rows.push(...r.rows);
    for (const l of r.logs) logs.push({ mode, ...l });
  }
  await bare.stop();
  await cleanups.runAll();
  process.stdout.write(`\n${report(rows, logs, m, opts, sizes, limit)}\n`);
  if (opts.jsonFile)
    writeFileSync(
      opts.jsonFile,
      JSON.stringify({ machine: m, sizes, connections: opts.connections, rows, logs }, null, 2),
    );
  if (logs.some((l) => l.facts.admittedTwice > 0 || l.facts.outOfOrder > 0)) {
    process.stderr.write('bench: an admission log is wrong (see above)\n');
    return 1;
  }
  return 0;
}

if (isMain(import.meta.url)) runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE);
