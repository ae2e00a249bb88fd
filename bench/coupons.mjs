/**
 * FCFS coupon issuance benchmark: `npm run bench:coupons [-- --connections 100 --duration 10 --quick]`.
 *
 * One run on this machine, one load tool (autocannon, driven in-process), one connection count:
 *   bare      a bare Fastify POST route answering 201 with a body of the issue answer's size
 *             (bench/bare-server.mjs): the ceiling for "HTTP on Node on this box"
 *   embedded  `node dist/cli.js serve` with a fresh DATA_DIR (embedded PostgreSQL, memory gate)
 *   cluster   the same with DATABASE_URL (a fresh database on the local PostgreSQL, created and
 *             dropped here) and REDIS_URL (a random key prefix, deleted with SCAN+UNLINK at the end)
 *
 * Scenarios per server mode:
 *   durable issuance  every request is a real issue by a different user (each token used once) on a
 *                     coupon of 10,000,000: each 201 is a committed row (group commit)
 *   sold-out spike    a coupon of 1,000 hit round-robin by 10,000 users: 1,000 × 201, then 409/410
 *                     answered by the gate
 * After each run the database is audited: every 201 seen is a row; every row is a 201 seen or a
 * request still in flight when the load tool stopped (autocannon drops those answers); no oversell.
 *
 * Prints one table (req/s, p50/p95/p99, statuses, ratios to the bare route) and the machine, plus
 * where the CPU went (server, PostgreSQL, Redis, load tool, other processes) and group-commit
 * figures from /metrics. The bare server stays up and is measured again right before each server
 * scenario: ratios compare runs made side by side, since other work on a shared machine comes and
 * goes (the "other" CPU column shows how much there was).
 *
 * Options:
 *   --connections N   concurrent connections (default 100)
 *   --duration S      seconds per measured run (default 10; --quick: 3)
 *   --quick           short runs (3 s measured, 1 s warm-up) for a smoke check
 *   --modes LIST      comma list of bare,embedded,cluster (default all three; bare always runs)
 *   --server-env LIST extra env for the server under test, e.g. COMMIT_MAX_BATCH=200,PG_POOL_MAX=10
 *   --profile DIR     run the server under test with `node --cpu-prof --cpu-prof-dir=DIR`
 *   --json FILE       also write every figure as JSON
 * Env: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS_URL
 * (default redis://127.0.0.1:6379). Load goes to 127.0.0.1 only; every run is bounded in time.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import pg from 'pg';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ISSUE_ROUTE = '/api/v1/coupons/:couponId/issue';
const DURABLE_QUANTITY = 10_000_000;
const SPIKE_QUANTITY = 1_000;
const SPIKE_USERS = 10_000;
const BULK_MAX = 10_000;
const WATCHDOG_MS = 30 * 60_000;

// ---------------------------------------------------------------------------------------------
// options

const { values: opt } = parseArgs({
  options: {
    connections: { type: 'string', default: '100' },
    duration: { type: 'string' },
    quick: { type: 'boolean', default: false },
    modes: { type: 'string', default: 'bare,embedded,cluster' },
    'server-env': { type: 'string', default: '' },
    profile: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  const head = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0];
  process.stdout.write(`${head.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}
const CONNECTIONS = positiveInt('--connections', opt.connections);
const DURATION = positiveInt('--duration', opt.duration ?? (opt.quick ? '3' : '10'));
const WARMUP = opt.quick ? 1 : 3;
const MODES = new Set(opt.modes.split(',').map((m) => m.trim()));
for (const m of MODES) if (!['bare', 'embedded', 'cluster'].includes(m)) fail(`--modes: unknown mode "${m}"`);
const SERVER_ENV = Object.fromEntries(
  opt['server-env']
    .split(',')
    .filter(Boolean)
    .map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) fail(`--server-env: expected NAME=value, got "${kv}"`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
);
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

function positiveInt(name, raw) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) fail(`${name} must be a positive whole number; got "${raw}"`);
  return n;
}

function fail(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// cleanup: every resource registers its undo; they run LIFO on success, error and SIGINT/SIGTERM

const cleanups = [];
const children = new Set();
let cleaning = null;

function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const { name, fn } = cleanups.pop();
      try {
        await fn();
      } catch (err) {
        log(`cleanup "${name}" failed: ${err?.message ?? err}`);
      }
    }
  })();
  return cleaning;
}

function onCleanup(name, fn) {
  const entry = { name, fn };
  cleanups.push(entry);
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    log(`${sig}: stopping servers and cleaning up`);
    cleanup().finally(() => process.exit(130));
  });
}
// Last resort if we exit without cleaning (a crash): kill each child's whole process group
// (the embedded PostgreSQL is in the server's group) so nothing outlives the benchmark.
process.on('exit', () => {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL');
    } catch {}
  }
});
setTimeout(() => {
  log(`watchdog: still running after ${WATCHDOG_MS / 60_000} min; giving up`);
  cleanup().finally(() => process.exit(1));
}, WATCHDOG_MS).unref();

// ---------------------------------------------------------------------------------------------
// child processes

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Spawns a child in its own process group, keeps its last output lines for error messages. */
function startChild(name, args, env) {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const tail = [];
  const keep = (buf) => {
    for (const line of buf.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
    }
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  const child = { name, pid: proc.pid, proc, tail, exited: false, exitCode: null, spawnedAt: Date.now() };
  child.exit = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      child.exited = true;
      child.exitCode = code ?? signal;
      children.delete(child);
      resolve();
    });
  });
  children.add(child);
  child.stop = onCleanup(`stop ${name}`, () => stopChild(child));
  return child;
}

/** SIGTERM (graceful: in-flight requests finish, commits flush, PostgreSQL stops), then SIGKILL. */
async function stopChild(child, graceMs = 30_000) {
  if (child.exited) return;
  process.kill(child.pid, 'SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout');
  if ((await Promise.race([child.exit, timer])) === 'timeout') {
    log(`${child.name} did not stop within ${graceMs / 1000} s; killing its process group`);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    await child.exit;
  }
}

async function waitReady(child, url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exited) {
      throw new Error(
        `${child.name} exited (${child.exitCode}) before it was ready:\n  ${child.tail.join('\n  ')}`,
      );
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {}
    await sleep(200);
  }
  throw new Error(
    `${child.name} not ready at ${url} after ${timeoutMs / 1000} s:\n  ${child.tail.join('\n  ')}`,
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP setup calls against the server under test

async function api(base, method, route, token, body) {
  const res = await fetch(`${base}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${route} → ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Bulk-creates n users, 10,000 per call, one call at a time: a call signs 10,000 JWTs and blocks the
 * server's event loop long enough for under-pressure to answer 503 OVERLOADED to a second one, so a
 * 503 is retried after its Retry-After. Returns ids and ready-made Authorization values.
 */
async function createUsers(base, adminToken, n, prefix) {
  const ids = [];
  const auth = [];
  for (let at = 0; at < n; at += BULK_MAX) {
    const count = Math.min(BULK_MAX, n - at);
    for (let attempt = 1; ; attempt++) {
      try {
        const { users } = await api(base, 'POST', '/api/v1/admin/users/bulk', adminToken, {
          count,
          namePrefix: prefix,
        });
        for (const u of users) {
          ids.push(u.id);
          auth.push(`Bearer ${u.token}`);
        }
        break;
      } catch (err) {
        if (attempt >= 5 || !/→ 503 /.test(err.message)) throw err;
        await sleep(1_000 * attempt);
      }
    }
  }
  return { ids, auth };
}

async function createCoupon(base, adminToken, name, quantity) {
  const c = await api(base, 'POST', '/api/v1/admin/coupons', adminToken, {
    name,
    discount: { type: 'AMOUNT', value: 1000 },
    quantity,
  });
  return c.id;
}

// ---------------------------------------------------------------------------------------------
// load: autocannon with one request whose setupRequest picks the next user's token

/**
 * Runs autocannon against one coupon. `pick(n)` maps the n-th request to a token index.
 * Tracks every request by a sequence number so the audit knows which users got a 201 and which
 * requests were still in flight when autocannon stopped (their answers are never seen).
 */
async function load({ base, couponId, auth, ids, pick, seconds, label }) {
  let seq = 0;
  const inflight = new Map(); // seq → token index
  const ok201 = []; // user ids answered 201
  const latencies = [];
  let exhausted = 0;
  const request = {
    method: 'POST',
    path: `/api/v1/coupons/${couponId}/issue`,
    setupRequest(req, context) {
      const n = seq++;
      let i = pick(n);
      if (i >= auth.length) {
        exhausted += 1;
        i %= auth.length;
      }
      context.seq = n;
      inflight.set(n, i);
      req.headers.authorization = auth[i];
      return req;
    },
    onResponse(status, _body, context) {
      const i = inflight.get(context.seq);
      inflight.delete(context.seq);
      if (status === 201 && ids && i !== undefined) ok201.push(ids[i]);
    },
  };
  const instance = autocannon({
    url: base,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    requests: [request],
  });
  instance.on('response', (_client, _status, _bytes, ms) => latencies.push(ms));
  const result = await instance;
  if (exhausted) log(`${label}: token pool exhausted, ${exhausted} requests reused a token (expect 409s)`);
  const sorted = Float64Array.from(latencies).sort();
  const pct = (p) =>
    sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN;
  const statuses = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
  return {
    rps: latencies.length / result.duration,
    p50: pct(50),
    p95: pct(95),
    p99: pct(99),
    responses: latencies.length,
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    ok201,
    inflightUsers: ids ? [...inflight.values()].map((i) => ids[i]) : [],
    exhausted,
  };
}

// ---------------------------------------------------------------------------------------------
// where the CPU went: /proc accounting per process class, and group-commit figures from /metrics

const TICK = 100; // USER_HZ on Linux

/**
 * CPU ticks so far, per class. `scope.serverPid` is the server under test; PostgreSQL counts only
 * our instance: the embedded postmaster and its children (`scope.pgRoot`), or, on the shared local
 * server, the backends of our database (`scope.pgDb`) plus that server's WAL/checkpoint processes.
 */
function cpuSnapshot(scope) {
  const by = { server: 0, postgres: 0, redis: 0, loadgen: 0 };
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    const ppid = Number(f[1]);
    const ticks = Number(f[11]) + Number(f[12]);
    const pid = Number(d);
    if (pid === scope.serverPid) by.server += ticks;
    else if (pid === process.pid) by.loadgen += ticks;
    else if (comm.startsWith('redis-server')) by.redis += ticks;
    else if (comm.startsWith('postgres') && isOurPostgres(scope, pid, ppid)) by.postgres += ticks;
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  by.machineBusy = total - cpu[3] - cpu[4];
  by.machineTotal = total;
  by.softirq = cpu[6];
  return by;
}

function isOurPostgres(scope, pid, ppid) {
  if (scope.pgRoot) return pid === scope.pgRoot || ppid === scope.pgRoot;
  if (!scope.pgDb) return false;
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return false;
  }
  return (
    cmd.includes(` ${scope.pgDb} `) ||
    /^postgres: [^:]+: (checkpointer|background writer|walwriter)/.test(cmd)
  );
}

/** CPU used between two snapshots, in cores (CPU-seconds per wall second). */
function cpuDelta(a, b, seconds) {
  const cores = (k) => (b[k] - a[k]) / TICK / seconds;
  const share = (k) => ((b[k] - a[k]) / (b.machineTotal - a.machineTotal)) * os.cpus().length;
  const out = {
    server: cores('server'),
    postgres: cores('postgres'),
    redis: cores('redis'),
    loadgen: cores('loadgen'),
    softirq: share('softirq'),
    machine: share('machineBusy'),
  };
  out.other = Math.max(0, out.machine - out.server - out.postgres - out.redis - out.loadgen - out.softirq);
  return out;
}

function parseMetrics(text) {
  const rows = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    rows.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return rows;
}

async function scrape(base) {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return parseMetrics(await res.text());
}

function metricSum(rows, name, where = {}) {
  let s = 0;
  for (const r of rows) {
    if (r.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => r.labels[k] === v)) s += r.value;
  }
  return s;
}

/** Group-commit and server-side latency figures between two scrapes. */
function commitFigures(before, after, seconds) {
  const d = (name, where) => metricSum(after, name, where) - metricSum(before, name, where);
  const c = { committer: 'coupon-issue' };
  const batches = d('stampede_group_commit_batch_size_count', c);
  const rows = d('stampede_group_commit_batch_size_sum', c);
  const commitSec = d('stampede_group_commit_duration_seconds_sum', c);
  const hist = [];
  let prev = 0;
  const les = [
    ...new Set(
      after.filter((r) => r.name === 'stampede_group_commit_batch_size_bucket').map((r) => r.labels.le),
    ),
  ];
  for (const le of les) {
    const cum = d('stampede_group_commit_batch_size_bucket', { ...c, le });
    if (cum - prev > 0) hist.push(`≤${le}:${cum - prev}`);
    prev = cum;
  }
  const route = { route: ISSUE_ROUTE };
  const httpCount = d('http_request_duration_seconds_count', route);
  const httpSum = d('http_request_duration_seconds_sum', route);
  return {
    batches,
    batchesPerSec: batches / seconds,
    meanBatch: batches ? rows / batches : 0,
    meanCommitMs: batches ? (commitSec / batches) * 1000 : 0,
    commitBusy: commitSec / seconds, // average transactions in flight
    batchHistogram: hist.join(' '),
    serverMeanMs: httpCount ? (httpSum / httpCount) * 1000 : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// audit: PostgreSQL is the truth

async function audit(dbUrl, couponId, run, quantity) {
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  try {
    // Requests abandoned by autocannon at the stop may still be committing: wait until quiet.
    let rows = -1;
    for (let i = 0; i < 30; i++) {
      const { rows: r } = await db.query('SELECT count(*)::int AS n FROM user_coupons WHERE coupon_id = $1', [
        couponId,
      ]);
      if (r[0].n === rows) break;
      rows = r[0].n;
      await sleep(500);
    }
    const { rows: holders } = await db.query(
      'SELECT user_id::text AS u FROM user_coupons WHERE coupon_id = $1',
      [couponId],
    );
    const { rows: c } = await db.query('SELECT issued_count AS n FROM coupons WHERE id = $1', [couponId]);
    const held = new Set(holders.map((h) => h.u));
    const acked = new Set(run.ok201);
    const inflight = new Set(run.inflightUsers);
    const count201 = run.statuses['201'] ?? 0;
    const missing = run.ok201.filter((u) => !held.has(u)).length; // acknowledged but not durable
    const extra = [...held].filter((u) => !acked.has(u));
    const unexplained = extra.filter((u) => !inflight.has(u)).length; // a row nobody asked for
    const twice = run.ok201.length - acked.size; // one user answered 201 twice
    const ok =
      missing === 0 &&
      unexplained === 0 &&
      twice === 0 &&
      run.ok201.length === count201 &&
      c[0].n === held.size &&
      held.size <= quantity;
    const text =
      `rows ${fmt(held.size)} = 201s counted ${fmt(count201)}` +
      (extra.length ? ` + ${extra.length} committed for requests in flight when the load stopped` : '') +
      `; acked-but-missing ${missing}, unexplained rows ${unexplained}, double 201s ${twice}, ` +
      `issued_count ${fmt(c[0].n)}, quantity ${fmt(quantity)} → ${ok ? 'OK' : 'FAILED'}`;
    return {
      ok,
      rows: held.size,
      count201,
      inflightCommitted: extra.length,
      missing,
      unexplained,
      twice,
      text,
    };
  } finally {
    await db.end();
  }
}

// ---------------------------------------------------------------------------------------------
// scenarios

const fmt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const ms = (n) => (Number.isFinite(n) ? n.toFixed(1) : '-');

async function measure(label, base, scope, run) {
  const m0 = base ? await scrape(base).catch(() => null) : null;
  const c0 = cpuSnapshot(scope);
  const start = Date.now();
  const r = await run();
  scope.windows?.push({ label, start, end: Date.now() });
  const c1 = cpuSnapshot(scope);
  const m1 = m0 ? await scrape(base).catch(() => null) : null;
  r.cpu = cpuDelta(c0, c1, r.seconds);
  if (m0 && m1) r.commit = commitFigures(m0, m1, r.seconds);
  log(
    `${label}: ${fmt(r.rps)} req/s, p50 ${ms(r.p50)} p95 ${ms(r.p95)} p99 ${ms(r.p99)} ms, statuses ${JSON.stringify(r.statuses)}` +
      `${r.errors ? `, errors ${r.errors} (timeouts ${r.timeouts})` : ''}`,
  );
  return r;
}

/**
 * Starts the bare server and warms it up. It stays up for the whole benchmark: besides its own row,
 * it is measured again right before every server scenario, so each ratio compares two runs made
 * under the same conditions (this machine is shared; other work comes and goes).
 */
async function startBare() {
  const port = await freePort();
  const child = startChild('bare server', [path.join(ROOT, 'bench/bare-server.mjs')], { PORT: String(port) });
  const base = `http://127.0.0.1:${port}`;
  // The bare route takes no auth; it is sent tokens of a real JWT's length anyway so the load tool
  // does the same work per request and the request bytes match.
  const auth = Array.from({ length: 1_000 }, () => `Bearer ${randomBytes(150).toString('base64url')}`);
  const deadline = Date.now() + 30_000;
  while (!child.tail.some((l) => l.startsWith('listening'))) {
    if (child.exited || Date.now() > deadline)
      throw new Error(`bare server did not start:\n${child.tail.join('\n')}`);
    await sleep(50);
  }
  const common = { base, couponId: '1', auth, ids: null, pick: (n) => n % auth.length };
  log(`bare: warm-up ${WARMUP} s`);
  await load({ ...common, seconds: WARMUP, label: 'bare warm-up' });
  return {
    child,
    measure: (label) =>
      measure(label, null, { serverPid: child.pid }, () => load({ ...common, seconds: DURATION, label })),
  };
}

/**
 * One server mode: start, create users and coupons, warm up, measure both scenarios, audit each
 * against PostgreSQL, stop. `users` is how many distinct users the durable run may need.
 */
async function runServer(mode, users, env, bare, dbOf) {
  const port = await freePort();
  const nodeArgs = opt.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(opt.profile)}`] : [];
  const child = startChild(`${mode} server`, [...nodeArgs, path.join(ROOT, 'dist/cli.js'), 'serve'], {
    ...env,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    ...SERVER_ENV,
  });
  const base = `http://127.0.0.1:${port}`;
  log(`${mode}: waiting for ${base}/readyz`);
  await waitReady(child, `${base}/readyz`, 180_000);
  const adminToken = env.ADMIN_TOKEN ?? readFileSync(path.join(env.DATA_DIR, 'admin-token'), 'utf8').trim();
  const { url: dbUrl, pgRoot, pgDb } = dbOf();
  const scope = { serverPid: child.pid, pgRoot, pgDb, windows: [] };

  // Token pools: warm-up tokens first; the measured pool is sized from the warm-up's rate (×3, at
  // least 30,000) and capped by `users` (the bare route's rate): each token is used once.
  const warmUsers = Math.min(20_000, Math.ceil(users * (WARMUP / (WARMUP + DURATION))));
  const t0 = Date.now();
  const first = await createUsers(base, adminToken, warmUsers + 30_000, 'bench');
  const spike = await createUsers(base, adminToken, SPIKE_USERS, 'spike');
  log(
    `${mode}: ${fmt(warmUsers + 30_000 + SPIKE_USERS)} users created in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const warmCoupon = await createCoupon(base, adminToken, 'bench warm-up', DURABLE_QUANTITY);
  const durableCoupon = await createCoupon(base, adminToken, 'bench durable', DURABLE_QUANTITY);
  const spikeCoupon = await createCoupon(base, adminToken, 'bench spike', SPIKE_QUANTITY);

  log(`${mode}: warm-up ${WARMUP} s`);
  const warm = await load({
    base,
    couponId: warmCoupon,
    auth: first.auth.slice(0, warmUsers),
    ids: null,
    pick: (n) => n % warmUsers, // a fast server may cycle: only warm-up answers become 409s
    seconds: WARMUP,
    label: `${mode} warm-up`,
  });
  log(`${mode}: warm-up ${fmt(warm.rps)} req/s ${JSON.stringify(warm.statuses)}`);
  const want = Math.min(users, Math.max(30_000, Math.ceil(warm.rps * DURATION * 3)));
  const durableAuth = first.auth.slice(warmUsers);
  const durableIds = first.ids.slice(warmUsers);
  if (want > durableAuth.length) {
    const more = await createUsers(base, adminToken, want - durableAuth.length, 'bench');
    durableAuth.push(...more.auth);
    durableIds.push(...more.ids);
  }
  log(`${mode}: ${fmt(durableAuth.length)} fresh users for the durable run`);
  await sleep(500);

  const durableBare = await bare.measure(`bare (before ${mode} durable)`);
  const durable = await measure(`${mode} durable`, base, scope, () =>
    load({
      base,
      couponId: durableCoupon,
      auth: durableAuth,
      ids: durableIds,
      pick: (n) => n,
      seconds: DURATION,
      label: `${mode} durable`,
    }),
  );
  durable.bare = durableBare;
  durable.audit = await audit(dbUrl, durableCoupon, durable, DURABLE_QUANTITY);
  log(`${mode} durable audit: ${durable.audit.text}`);

  const spikeBare = await bare.measure(`bare (before ${mode} spike)`);
  const spiked = await measure(`${mode} spike`, base, scope, () =>
    load({
      base,
      couponId: spikeCoupon,
      auth: spike.auth,
      ids: spike.ids,
      pick: (n) => n % SPIKE_USERS,
      seconds: DURATION,
      label: `${mode} spike`,
    }),
  );
  spiked.bare = spikeBare;
  spiked.audit = await audit(dbUrl, spikeCoupon, spiked, SPIKE_QUANTITY);
  log(`${mode} spike audit: ${spiked.audit.text}`);

  await child.stop();
  if (opt.profile) {
    // Lets bench/cpuprofile-summary.mjs cut the server's profile down to the measured runs.
    const file = path.join(path.resolve(opt.profile), `windows-${child.pid}.json`);
    writeFileSync(
      file,
      JSON.stringify({ mode, pid: child.pid, spawnedAt: child.spawnedAt, windows: scope.windows }),
    );
    log(
      `${mode}: CPU profile of pid ${child.pid} in ${opt.profile}; summary: node bench/cpuprofile-summary.mjs ${file}`,
    );
  }
  if (child.exitCode !== 0)
    log(`${mode} server exited with ${child.exitCode}:\n  ${child.tail.join('\n  ')}`);
  return [
    { scenario: 'durable issuance', short: 'durable', mode, ...durable },
    {
      scenario: `sold-out spike (${fmt(SPIKE_QUANTITY)} units, ${fmt(SPIKE_USERS)} users)`,
      short: 'spike',
      mode,
      ...spiked,
    },
  ];
}

async function runEmbedded(users, bare) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stampede-bench-'));
  // Registered before the server so it runs after the server (and its PostgreSQL) stopped.
  onCleanup('remove DATA_DIR', async () => rmSync(dataDir, { recursive: true, force: true }));
  return runServer('embedded', users, { DATA_DIR: dataDir }, bare, () => {
    const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    // postmaster.pid: line 1 is the postmaster's pid, line 4 its port.
    const pid = readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n');
    const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pid[3].trim()}/postgres`;
    return { url, pgRoot: Number(pid[0]) };
  });
}

async function runCluster(users, bare) {
  const tag = randomBytes(4).toString('hex');
  const dbName = `stampede_bench_${tag}`;
  const prefix = `bench-${tag}:`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  onCleanup(`drop database ${dbName}`, async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
    log(`dropped database ${dbName}`);
  });
  onCleanup(`delete redis keys ${prefix}*`, async () => {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    let deleted = 0;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await r.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      r.disconnect();
    }
    log(`deleted ${deleted} redis keys under ${prefix}`);
  });
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${dbName}`;
  const dbUrl = u.toString();
  const env = {
    DATABASE_URL: dbUrl,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN: randomBytes(24).toString('base64url'),
    JWT_SECRET: randomBytes(48).toString('base64url'),
  };
  return runServer('cluster', users, env, bare, () => ({ url: dbUrl, pgDb: dbName }));
}

// ---------------------------------------------------------------------------------------------
// report

function machine() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    model: cpus[0]?.model?.trim() ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

function table(results, bare) {
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
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => `| ${cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function report(results, bare, m) {
  const out = [];
  out.push(
    `connections ${CONNECTIONS}, ${DURATION} s per measured run (after a ${WARMUP} s warm-up), autocannon, 127.0.0.1`,
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
  for (const r of results.filter((x) => x.audit)) out.push(`  ${r.mode} ${r.scenario}: ${r.audit.text}`);
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
      const k = r.commit;
      out.push(
        `  ${r.mode.padEnd(8)} ${r.short.padEnd(8)} ${fmt(k.batches)} batches (${fmt(k.batchesPerSec)}/s), ` +
          `mean ${k.meanBatch.toFixed(1)} rows, mean commit ${k.meanCommitMs.toFixed(2)} ms, ` +
          `${k.commitBusy.toFixed(2)} tx in flight on average; server-side mean ${k.serverMeanMs.toFixed(2)} ms; ` +
          `sizes ${k.batchHistogram}`,
      );
    }
  }
  if (Object.keys(SERVER_ENV).length) out.push('', `server env: ${JSON.stringify(SERVER_ENV)}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!existsSync(path.join(ROOT, 'dist/cli.js'))) fail('dist/cli.js is missing: run `npm run build` first');
  const m = machine();
  log(`machine: ${m.cpus} × ${m.model}, node ${m.node}; ${CONNECTIONS} connections, ${DURATION} s runs`);
  const results = [];
  const bareServer = await startBare();
  const bare = {
    scenario: 'bare Fastify route',
    short: 'bare',
    mode: '-',
    ...(await bareServer.measure('bare')),
  };
  results.push(bare);
  // Durable issuance cannot outrun the bare route: that bounds the token pool (each token once).
  const users = Math.max(
    30_000,
    Math.min(1_000_000, Math.ceil((bare.rps * (DURATION + WARMUP) * 1.3) / BULK_MAX) * BULK_MAX),
  );
  if (MODES.has('embedded')) results.push(...(await runEmbedded(users, bareServer)));
  if (MODES.has('cluster')) results.push(...(await runCluster(users, bareServer)));
  await bareServer.child.stop();
  await cleanup();
  const text = report(results, bare, m);
  process.stdout.write(`\n${text}\n`);
  if (opt.json) {
    const slim = results.map(({ ok201, inflightUsers, ...r }) => r);
    writeFileSync(
      opt.json,
      JSON.stringify({ machine: m, connections: CONNECTIONS, duration: DURATION, results: slim }, null, 2),
    );
  }
  if (results.some((r) => r.audit && !r.audit.ok)) {
    process.stderr.write('bench: an audit FAILED (see above)\n');
    process.exitCode = 1;
  }
}

main().catch(async (err) => {
  log(`failed: ${err?.stack ?? err}`);
  await cleanup();
  process.exit(1);
});
