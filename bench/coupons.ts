/**
 * FCFS coupon issuance benchmark. Importing this module does nothing; `npm run bench:coupons`
 * builds it and runs main().
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ApiClient } from '../src/drill/api-client.js';
import { serverEntry } from '../src/drill/process.js';
import { BULK_MAX, createUsers } from '../src/drill/scenarios/users.js';
import { asObject, str } from '../src/drill/shape.js';
import { auditCouponRun, type CouponRunAudit } from './lib/coupon-audit.js';
import { type CpuScope, type CpuSplit, cpuDelta, cpuSnapshot } from './lib/cpu.js';
import { fmt, type Machine, machine, ms, paddedTable } from './lib/format.js';
import { type LoadResult, runLoad } from './lib/load.js';
import { type BenchOptions, parseBenchArgs } from './lib/options.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';
import { type CommitFigures, commitFigures, scrape } from './lib/server-metrics.js';
import { startBareServer, withServerUnderTest } from './lib/servers.js';

export const USAGE = `FCFS coupon issuance benchmark: npm run bench:coupons [-- --connections 100 --duration 10 --quick]

One run on this machine, one load tool (autocannon, driven in-process), one connection count:
  bare      a bare Fastify POST route answering 201 with a body of the issue answer's size
            (bench/bare-server.mjs): the ceiling for "HTTP on Node on this box"
  embedded  \`node dist/cli.js serve\` with a fresh DATA_DIR (embedded PostgreSQL, memory gate)
  cluster   the same with DATABASE_URL (a fresh database on the local PostgreSQL, created and
            dropped here) and REDIS_URL (a random key prefix, deleted with SCAN+UNLINK at the end)

Scenarios per server mode:
  durable issuance  every request is a real issue by a different user (each token used once) on a
                    coupon of 10,000,000: each 201 is a committed row (group commit)
  sold-out spike    a coupon of 1,000 hit round-robin by 10,000 users: 1,000 × 201, then 409/410
                    answered by the gate
After each run the database is audited: every 201 seen is a row; every row is a 201 seen or a
request still in flight when the load tool stopped (autocannon drops those answers); no oversell.

Prints one table (req/s, p50/p95/p99, statuses, ratios to the bare route) and the machine, plus
where the CPU went (server, PostgreSQL, Redis, load tool, other processes) and group-commit
figures from /metrics. The bare server stays up and is measured again right before each server
scenario: ratios compare runs made side by side, since other work on a shared machine comes and
goes (the "other" CPU column shows how much there was).

Options:
  --connections N   concurrent connections (default 100)
  --duration S      seconds per measured run (default 10; --quick: 3)
  --quick           short runs (3 s measured, 1 s warm-up) for a smoke check
  --modes LIST      comma list of bare,embedded,cluster (default all three; bare always runs)
  --server-env LIST extra env for the server under test, e.g. COMMIT_MAX_BATCH=200,PG_POOL_MAX=10
  --profile DIR     run the server under test with \`node --cpu-prof --cpu-prof-dir=DIR\`
  --server-root DIR run DIR/dist/cli.js (a built worktree of an older commit) as the server under test
  --json FILE       also write every figure as JSON
  -h, --help        this text
Env: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS_URL
(default redis://127.0.0.1:6379). Load goes to 127.0.0.1 only; every run is bounded in time.
`;

const ISSUE_ROUTE = '/api/v1/coupons/:couponId/issue';
const DURABLE_QUANTITY = 10_000_000;
const SPIKE_QUANTITY = 1_000;
const SPIKE_USERS = 10_000;

/** One measured load: the load tool's figures, who got a 201, and where the CPU went. */
export interface IssueRun extends LoadResult {
  /** User ids answered 201 (empty for the bare route). */
  ok201: string[];
  /** User ids whose request was still in flight when the load stopped. */
  inflightUsers: string[];
  cpu: CpuSplit;
  commit?: CommitFigures;
  /** The bare route measured right before this run. */
  bare?: IssueRun;
  audit?: CouponRunAudit;
}

export interface ResultRow extends IssueRun {
  scenario: string;
  short: string;
  mode: string;
}

interface Window {
  label: string;
  start: number;
  end: number;
}

interface IssueLoad {
  base: string;
  couponId: string;
  /** Authorization header values. */
  auth: readonly string[];
  /** User id per auth entry; null when nobody is audited (bare route, warm-up). */
  ids: readonly string[] | null;
  /** Token index of the n-th request. */
  pick(n: number): number;
  seconds: number;
  label: string;
}

/**
 * Issues against one coupon. Each request's token index is kept until its answer arrives, so the
 * audit knows who got a 201 and whose request was still in flight at the stop.
 */
async function issueLoad(o: IssueLoad, connections: number): Promise<Omit<IssueRun, 'cpu'>> {
  const tokenOf = new Map<number, number>();
  const ok201: string[] = [];
  let exhausted = 0;
  const r = await runLoad({
    url: o.base,
    connections,
    seconds: o.seconds,
    timeoutSec: 10,
    request(n) {
      let i = o.pick(n);
      if (i >= o.auth.length) {
        exhausted += 1;
        i %= o.auth.length;
      }
      if (o.ids) tokenOf.set(n, i);
      return { path: `/api/v1/coupons/${o.couponId}/issue`, headers: { authorization: o.auth[i] } };
    },
    answered(n, status) {
      const i = tokenOf.get(n);
      tokenOf.delete(n);
      if (status === 201 && o.ids && i !== undefined) ok201.push(o.ids[i]);
    },
  });
  if (exhausted) log(`${o.label}: token pool exhausted, ${exhausted} requests reused a token (expect 409s)`);
  const ids = o.ids;
  const inflightUsers: string[] = [];
  if (ids) {
    for (const n of r.unanswered) {
      const i = tokenOf.get(n);
      if (i !== undefined) inflightUsers.push(ids[i]);
    }
  }
  return { ...r, ok201, inflightUsers };
}

/** Runs `run` with CPU snapshots (and /metrics scrapes when `base` is a stampede) around it. */
async function measure(
  label: string,
  base: string | null,
  scope: CpuScope,
  windows: Window[] | null,
  run: () => Promise<Omit<IssueRun, 'cpu'>>,
): Promise<IssueRun> {
  const m0 = base ? await scrape(base).catch(() => null) : null;
  const c0 = cpuSnapshot(scope);
  const start = Date.now();
  const r = await run();
  windows?.push({ label, start, end: Date.now() });
  const c1 = cpuSnapshot(scope);
  const m1 = m0 && base ? await scrape(base).catch(() => null) : null;
  const out: IssueRun = { ...r, cpu: cpuDelta(c0, c1, r.seconds) };
  if (m0 && m1) out.commit = commitFigures(m0, m1, r.seconds, 'coupon-issue', ISSUE_ROUTE);
  log(
    `${label}: ${fmt(r.rps)} req/s, p50 ${ms(r.p50)} p95 ${ms(r.p95)} p99 ${ms(r.p99)} ms, statuses ${JSON.stringify(r.statuses)}` +
      `${r.errors ? `, errors ${r.errors} (timeouts ${r.timeouts})` : ''}`,
  );
  return out;
}

export interface Bare {
  measure(label: string): Promise<IssueRun>;
  stop(): Promise<void>;
}

/**
 * Starts the bare server and warms it up. It stays up for the whole benchmark: besides its own row,
 * it is measured again right before every server scenario, so each ratio compares two runs made
 * under the same conditions (this machine is shared; other work comes and goes).
 */
export async function startBare(opts: BenchOptions, cleanups: Cleanups): Promise<Bare> {
  const { server, stop } = await startBareServer(cleanups);
  // The bare route takes no auth; it is sent tokens of a real JWT's length anyway so the load tool
  // does the same work per request and the request bytes match.
  const auth = Array.from({ length: 1_000 }, () => `Bearer ${randomBytes(150).toString('base64url')}`);
  const common = { base: server.url, couponId: '1', auth, ids: null, pick: (n: number) => n % auth.length };
  log(`bare: warm-up ${opts.warmup} s`);
  await issueLoad({ ...common, seconds: opts.warmup, label: 'bare warm-up' }, opts.connections);
  return {
    measure: (label) =>
      measure(label, null, { serverPid: server.pid }, null, () =>
        issueLoad({ ...common, seconds: opts.duration, label }, opts.connections),
      ),
    stop,
  };
}

async function createCoupon(api: ApiClient, adminToken: string, name: string, quantity: number) {
  const c = await api.must('POST', '/api/v1/admin/coupons', 201, {
    token: adminToken,
    body: { name, discount: { type: 'AMOUNT', value: 1000 }, quantity },
  });
  return str(asObject(c, 'coupon'), 'id', 'coupon');
}

/**
 * One server mode: start, create users and coupons, warm up, measure both scenarios, audit each
 * against PostgreSQL, stop. `users` is how many distinct users the durable run may need.
 */
export async function runServer(
  mode: 'embedded' | 'cluster',
  users: number,
  bare: Bare,
  opts: BenchOptions,
  cleanups: Cleanups,
): Promise<ResultRow[]> {
  const windows: Window[] = [];
  let profiled = { pid: 0, spawnedAt: 0 };
  const bearer = (tokens: readonly string[]) => tokens.map((t) => `Bearer ${t}`);
  const rows = await withServerUnderTest(mode, cleanups, opts, 8, async (sut, api) => {
    const base = sut.server.url;
    const scope: CpuScope = { serverPid: sut.server.pid, pgRoot: sut.pgRoot, pgDb: sut.pgDb };
    profiled = { pid: sut.server.pid, spawnedAt: sut.server.spawnedAt };
    // Token pools: warm-up tokens first; the measured pool is sized from the warm-up's rate (×3, at
    // least 30,000) and capped by `users` (the bare route's rate): each token is used once.
    const warmUsers = Math.min(20_000, Math.ceil(users * (opts.warmup / (opts.warmup + opts.duration))));
    const t0 = Date.now();
    const first = await createUsers(api, sut.adminToken, warmUsers + 30_000, 'bench', log);
    const spike = await createUsers(api, sut.adminToken, SPIKE_USERS, 'spike', log);
    log(
      `${mode}: ${fmt(warmUsers + 30_000 + SPIKE_USERS)} users created in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    const warmCoupon = await createCoupon(api, sut.adminToken, 'bench warm-up', DURABLE_QUANTITY);
    const durableCoupon = await createCoupon(api, sut.adminToken, 'bench durable', DURABLE_QUANTITY);
    const spikeCoupon = await createCoupon(api, sut.adminToken, 'bench spike', SPIKE_QUANTITY);

    log(`${mode}: warm-up ${opts.warmup} s`);
    const firstAuth = bearer(first.tokens);
    const warm = await issueLoad(
      {
        base,
        couponId: warmCoupon,
        auth: firstAuth.slice(0, warmUsers),
        ids: null,
        pick: (n) => n % warmUsers, // a fast server may cycle: only warm-up answers become 409s
        seconds: opts.warmup,
        label: `${mode} warm-up`,
      },
      opts.connections,
    );
    log(`${mode}: warm-up ${fmt(warm.rps)} req/s ${JSON.stringify(warm.statuses)}`);
    const want = Math.min(users, Math.max(30_000, Math.ceil(warm.rps * opts.duration * 3)));
    const durableAuth = firstAuth.slice(warmUsers);
    const durableIds = first.ids.slice(warmUsers);
    if (want > durableAuth.length) {
      const more = await createUsers(api, sut.adminToken, want - durableAuth.length, 'bench', log);
      // A loop, not push(...more): a fast machine asks for more users than a spread's argument limit.
      for (const t of more.tokens) durableAuth.push(`Bearer ${t}`);
      for (const id of more.ids) durableIds.push(id);
    }
    log(`${mode}: ${fmt(durableAuth.length)} fresh users for the durable run`);
    await new Promise((r) => setTimeout(r, 500));

    /** The bare route, then `label` on `couponId`, then its audit. */
    const scenario = async (
      label: string,
      couponId: string,
      quantity: number,
      tokens: Pick<IssueLoad, 'auth' | 'ids' | 'pick'>,
    ): Promise<IssueRun> => {
      const bareRun = await bare.measure(`bare (before ${label})`);
      const run = await measure(label, base, scope, windows, () =>
        issueLoad({ ...tokens, base, couponId, seconds: opts.duration, label }, opts.connections),
      );
      run.bare = bareRun;
      run.audit = await auditCouponRun(sut.databaseUrl, couponId, seenOf(run), quantity);
      log(`${label} audit: ${run.audit.text}`);
      return run;
    };
    const durable = await scenario(`${mode} durable`, durableCoupon, DURABLE_QUANTITY, {
      auth: durableAuth,
      ids: durableIds,
      pick: (n) => n,
    });
    const spiked = await scenario(`${mode} spike`, spikeCoupon, SPIKE_QUANTITY, {
      auth: bearer(spike.tokens),
      ids: spike.ids,
      pick: (n) => n % SPIKE_USERS,
    });

    return [
      { scenario: 'durable issuance', short: 'durable', mode, ...durable },
      {
        scenario: `sold-out spike (${fmt(SPIKE_QUANTITY)} units, ${fmt(SPIKE_USERS)} users)`,
        short: 'spike',
        mode,
        ...spiked,
      },
    ];
  });
  if (opts.profileDir) {
    // Lets bench/cpuprofile-summary.mjs cut the server's profile down to the measured runs.
    const file = path.join(path.resolve(opts.profileDir), `windows-${profiled.pid}.json`);
    writeFileSync(file, JSON.stringify({ mode, ...profiled, windows }));
    log(
      `${mode}: CPU profile of pid ${profiled.pid} in ${opts.profileDir}; summary: node bench/cpuprofile-summary.mjs ${file}`,
    );
  }
  return rows;
}

/** A run without its per-user lists, for --json. */
function figures<T extends IssueRun>(r: T): Omit<T, 'ok201' | 'inflightUsers' | 'unanswered' | 'bare'> {
  const { ok201: _a, inflightUsers: _b, unanswered: _c, bare: _d, ...rest } = r;
  return rest;
}

function seenOf(r: IssueRun) {
  return { ok201: r.ok201, inflightUsers: r.inflightUsers, count201: r.statuses['201'] ?? 0 };
}

function table(results: readonly ResultRow[], bare: ResultRow): string {
  const head = [
    'scenario',
    'mode',
    'req/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    '201',
    'non-2xx',
    'bare alongside: req/s, p99 ms',
    'req/s ÷ bare',
    'p99 ÷ bare',
  ];
  const rows = results.map((r) => {
    const non2xx = Object.entries(r.statuses)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${code}: ${fmt(n)}`);
    if (r.errors) non2xx.push(`errors: ${fmt(r.errors)}`);
    const isBare = r === bare;
    const b = r.bare ?? bare;
    return [
      r.scenario,
      r.mode,
      fmt(r.rps),
      ms(r.p50),
      ms(r.p95),
      ms(r.p99),
      fmt(r.statuses['201'] ?? 0),
      non2xx.join(', ') || '0',
      isBare ? '-' : `${fmt(b.rps)}, ${ms(b.p99)}`,
      isBare ? '1.00' : (r.rps / b.rps).toFixed(2),
      isBare ? '1.00' : (r.p99 / b.p99).toFixed(2),
    ];
  });
  return paddedTable(head, rows);
}

/** The printed report: table, machine, targets, audits, CPU split, group commit. */
export function report(
  results: readonly ResultRow[],
  bare: ResultRow,
  m: Machine,
  opts: BenchOptions,
): string {
  const out: string[] = [];
  out.push(
    `connections ${opts.connections}, ${opts.duration} s per measured run (after a ${opts.warmup} s warm-up), autocannon, 127.0.0.1`,
  );
  out.push('');
  out.push(table(results, bare));
  out.push('');
  out.push(
    `machine: ${m.cpus} × ${m.model}, ${m.memGiB} GiB, ${m.os}, node ${m.node}; ${new Date().toISOString().slice(0, 10)}`,
  );
  out.push('');
  out.push('targets (durable issuance): req/s ≥ 0.50 × bare, p99 ≤ 2.00 × bare');
  for (const r of results.filter((x) => x.scenario === 'durable issuance')) {
    const b = r.bare ?? bare;
    const tr = r.rps / b.rps;
    const tp = r.p99 / b.p99;
    out.push(
      `  ${r.mode.padEnd(8)} req/s ${tr.toFixed(2)} × bare ${tr >= 0.5 ? 'MET' : 'MISSED'}; ` +
        `p99 ${tp.toFixed(2)} × bare ${tp <= 2 ? 'MET' : 'MISSED'}`,
    );
  }
  out.push('');
  out.push('audits (PostgreSQL after each run):');
  for (const r of results) if (r.audit) out.push(`  ${r.mode} ${r.scenario}: ${r.audit.text}`);
  out.push('');
  out.push(
    `where the CPU went during each measured run (cores of ${m.cpus}; kernel = softirq, mostly loopback TCP; other = not ours):`,
  );
  for (const r of results) {
    const c = r.cpu;
    out.push(
      `  ${r.mode.padEnd(8)} ${r.short.padEnd(8)} server ${c.server.toFixed(2)}, postgres ${c.postgres.toFixed(2)}, ` +
        `redis ${c.redis.toFixed(2)}, load tool ${c.loadgen.toFixed(2)}, kernel ${c.softirq.toFixed(2)}, other ${c.other.toFixed(2)} (machine ${c.machine.toFixed(2)}); ` +
        `server CPU ${fmt((c.server * 1e6) / r.rps)} µs per answer`,
    );
    if (r.bare) {
      const k = r.bare.cpu;
      out.push(
        `  ${''.padEnd(8)} ${'+ bare'.padEnd(8)} server ${k.server.toFixed(2)}, load tool ${k.loadgen.toFixed(2)}, ` +
          `kernel ${k.softirq.toFixed(2)}, other ${k.other.toFixed(2)} (machine ${k.machine.toFixed(2)}); ` +
          `server CPU ${fmt((k.server * 1e6) / r.bare.rps)} µs per answer (the bare run just before)`,
      );
    }
  }
  const withCommit = results.filter((r) => r.commit?.batches);
  if (withCommit.length) {
    out.push('');
    out.push('group commit during each measured run (from /metrics):');
    for (const r of withCommit) {
      const k = r.commit as CommitFigures;
      out.push(
        `  ${r.mode.padEnd(8)} ${r.short.padEnd(8)} ${fmt(k.batches)} batches (${fmt(k.batchesPerSec)}/s), ` +
          `mean ${k.meanBatch.toFixed(1)} rows, mean commit ${k.meanCommitMs.toFixed(2)} ms, ` +
          `${k.commitBusy.toFixed(2)} tx in flight on average; server-side mean ${k.serverMeanMs.toFixed(2)} ms; ` +
          `sizes ${k.batchHistogram}`,
      );
    }
  }
  if (Object.keys(opts.serverEnv).length) out.push('', `server env: ${JSON.stringify(opts.serverEnv)}`);
  if (opts.serverRoot) out.push('', `server under test: ${opts.serverRoot}/dist/cli.js`);
  return out.join('\n');
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
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  const m = machine();
  log(
    `machine: ${m.cpus} × ${m.model}, node ${m.node}; ${opts.connections} connections, ${opts.duration} s runs`,
  );
  const results: ResultRow[] = [];
  const bareServer = await startBare(opts, cleanups);
  const bare: ResultRow = {
    scenario: 'bare Fastify route',
    short: 'bare',
    mode: '-',
    ...(await bareServer.measure('bare')),
  };
  results.push(bare);
  // Durable issuance cannot outrun the bare route: that bounds the token pool (each token once).
  const users = Math.max(
    30_000,
    Math.min(1_000_000, Math.ceil((bare.rps * (opts.duration + opts.warmup) * 1.3) / BULK_MAX) * BULK_MAX),
  );
  if (opts.modes.has('embedded'))
    for (const row of await runServer('embedded', users, bareServer, opts, cleanups)) results.push(row);
  if (opts.modes.has('cluster'))
    for (const row of await runServer('cluster', users, bareServer, opts, cleanups)) results.push(row);
  await bareServer.stop();
  await cleanups.runAll();
  process.stdout.write(`\n${report(results, bare, m, opts)}\n`);
  if (opts.jsonFile) {
    const slim = results.map((r) => ({ ...figures(r), bare: r.bare && figures(r.bare) }));
    writeFileSync(
      opts.jsonFile,
      JSON.stringify(
        { machine: m, connections: opts.connections, duration: opts.duration, results: slim },
        null,
        2,
      ),
    );
  }
  if (results.some((r) => r.audit && !r.audit.ok)) {
    process.stderr.write('bench: an audit FAILED (see above)\n');
    return 1;
  }
  return 0;
}

if (isMain(import.meta.url)) runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE);
