#!/usr/bin/env node
/**
 * Order throughput benchmark (issue 3). Prints paid orders/s and p50/p95/p99 latency for
 *   (a) 3-line orders over 1,000 products, each with its own coupon
 *   (b) every buyer on one hot product
 * in embedded and cluster mode, next to a bare Fastify route measured in the same run, then audits
 * PostgreSQL (no oversell: stock + sold = initial for every product; ledger sums to balances; one
 * coupon per order).
 *
 * Servers run as child processes (`node dist/cli.js serve`); run `npm run build` first (the npm
 * script `bench:orders` does). Cluster mode uses a fresh database on postgres://postgres@127.0.0.1:5432
 * (dropped afterwards) and redis://127.0.0.1:6379 with a random key prefix. Load goes to 127.0.0.1 only.
 *
 * Options (env): BENCH_ORDERS (orders per scenario, default 30000), BENCH_CONNECTIONS (default 128),
 * BENCH_MODES (default "embedded,cluster").
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import * as hdr from 'hdr-histogram-js';
import pg from 'pg';
import { Agent, request } from 'undici';

const ORDERS = Number(process.env.BENCH_ORDERS ?? 30_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 128);
const MODES = (process.env.BENCH_MODES ?? 'embedded,cluster').split(',');
const PG_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = 'redis://127.0.0.1:6379';
const ADMIN_TOKEN = `bench-admin-${randomBytes(8).toString('hex')}`;
const JWT_SECRET = randomBytes(32).toString('hex');
const PRODUCTS = 1_000;
const PRICE = 10;
const STOCK = 1_000_000;
const HOT_STOCK = 10_000_000;
const USERS = 5_000;

const agent = new Agent({ connections: 64, keepAliveTimeout: 30_000 });

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function api(base, method, p, token, body) {
  for (let attempt = 0; ; attempt++) {
    const res = await request(`${base}${p}`, {
      method,
      dispatcher: agent,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.body.text();
    if (res.statusCode === 503 && attempt < 50) {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    if (res.statusCode >= 300) throw new Error(`${method} ${p}: ${res.statusCode} ${text}`);
    return JSON.parse(text);
  }
}

async function pool(list, parallel, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < list.length) {
        const i = next++;
        await fn(list[i], i);
      }
    }),
  );
}

function startChild(args, env, readyUrl) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
    if (err.length > 20_000) err = err.slice(-10_000);
  });
  const ready = (async () => {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`server exited ${child.exitCode}: ${err}`);
      try {
        const res = await request(readyUrl, { dispatcher: agent });
        await res.body.dump();
        if (res.statusCode === 200) return;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`server not ready: ${err}`);
  })();
  return {
    child,
    ready,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/** Runs autocannon for `amount` requests built by `next()`; latency histogram in ms. */
function load(url, amount, next, duration) {
  const hist = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000,
    numberOfSignificantValueDigits: 3,
  });
  const codes = {};
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let lastAt = started;
    const inst = autocannon(
      {
        url,
        connections: CONNECTIONS,
        pipelining: 1,
        ...(amount ? { amount } : { duration }),
        timeout: 30,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => {
              const r = next();
              return { ...req, path: r.path, headers: r.headers, body: r.body };
            },
          },
        ],
      },
      (err, result) => {
        if (err) return reject(err);
        // autocannon notices `amount` is reached on its 1 s tick; time ends at the last response.
        const seconds = (lastAt - started) / 1000;
        if (process.env.BENCH_DEBUG)
          process.stderr.write(
            `load: ${amount} requests in ${seconds.toFixed(3)} s, autocannon says ${result.duration} s ${JSON.stringify(codes)}\n`,
          );
        resolve({ result, hist, codes, seconds });
      },
    );
    inst.on('response', (_client, statusCode, _bytes, responseTime) => {
      codes[statusCode] = (codes[statusCode] ?? 0) + 1;
      lastAt = performance.now();
      hist.recordValue(Math.max(1, Math.round(responseTime))); // ms, 1 ms resolution
    });
  });
}

function pct(hist) {
  return {
    p50: hist.getValueAtPercentile(50),
    p95: hist.getValueAtPercentile(95),
    p99: hist.getValueAtPercentile(99),
  };
}

async function baseline() {
  const port = await freePort();
  const src = `
    import Fastify from 'fastify';
    const app = Fastify({ logger: false });
    app.post('/bare', async (req) => ({ ok: true, n: req.body?.items?.length ?? 0 }));
    app.get('/readyz', async () => ({ ok: true }));
    await app.listen({ port: ${port}, host: '127.0.0.1' });
  `;
  const srv = startChild(['--input-type=module', '-e', src], {}, `http://127.0.0.1:${port}/readyz`);
  await srv.ready;
  const body = JSON.stringify({ items: [{ productId: '1', quantity: 1 }] });
  const r = await load(
    `http://127.0.0.1:${port}`,
    0,
    () => ({ path: '/bare', headers: { 'content-type': 'application/json' }, body }),
    5,
  );
  await srv.stop();
  return { rps: (r.codes[200] ?? 0) / r.seconds, ...pct(r.hist) };
}

function embeddedPgUrl(dataDir) {
  const pid = readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n');
  const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pid[3].trim()}/postgres`;
}

async function runMode(mode) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ADMIN_TOKEN, JWT_SECRET };
  let dataDir = null;
  let dbName = null;
  if (mode === 'embedded') {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'stampede-bench-'));
    env.DATA_DIR = dataDir;
  } else {
    dbName = `stampede_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: PG_SERVER });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${dbName}`);
    await admin.end();
    env.DATABASE_URL = PG_SERVER.replace(/\/postgres$/, `/${dbName}`);
    env.REDIS_URL = REDIS_URL;
    env.REDIS_PREFIX = `stampede-bench:${randomBytes(4).toString('hex')}:`;
  }
  const srv = startChild(['dist/cli.js', 'serve'], env, `${base}/readyz`);
  const out = [];
  try {
    await srv.ready;
    process.stderr.write(`[${mode}] server ready; seeding\n`);
    const products = (
      await api(base, 'POST', '/api/v1/admin/products/bulk', ADMIN_TOKEN, {
        products: Array.from({ length: PRODUCTS }, (_, i) => ({
          name: `bench-${i}`,
          price: PRICE,
          stock: STOCK,
        })),
      })
    ).ids;
    const hot = (
      await api(base, 'POST', '/api/v1/admin/products', ADMIN_TOKEN, {
        name: 'hot',
        price: PRICE,
        stock: HOT_STOCK,
      })
    ).id;
    const users = [];
    for (let left = USERS; left > 0; left -= 5_000) {
      users.push(
        ...(
          await api(base, 'POST', '/api/v1/admin/users/bulk', ADMIN_TOKEN, { count: Math.min(left, 5_000) })
        ).users,
      );
    }
    await pool(users, 64, (u) =>
      api(base, 'POST', '/api/v1/me/points/charge', u.token, { amount: 1_000_000 }),
    );
    // One coupon per order in scenario (a): ceil(ORDERS / USERS) drops, each issued to every user.
    const pairs = [];
    for (let d = 0; d < Math.ceil(ORDERS / USERS); d++) {
      const c = await api(base, 'POST', '/api/v1/admin/coupons', ADMIN_TOKEN, {
        name: `bench-${d}`,
        discount: { type: d % 2 ? 'PERCENT' : 'AMOUNT', value: d % 2 ? 10 : 5 },
        quantity: USERS,
      });
      await pool(users, 64, async (u) => {
        const r = await api(base, 'POST', `/api/v1/coupons/${c.id}/issue`, u.token);
        pairs.push({ token: u.token, userCouponId: r.userCouponId });
      });
    }
    process.stderr.write(
      `[${mode}] seeded ${PRODUCTS + 1} products, ${USERS} users, ${pairs.length} coupons\n`,
    );

    // (a) 3-line orders over 1,000 products, each with its own coupon.
    let ia = 0;
    const a = await load(base, ORDERS, () => {
      const p = pairs[ia++ % pairs.length];
      const lines = new Set();
      while (lines.size < 3) lines.add(products[Math.floor(Math.random() * products.length)]);
      return {
        path: '/api/v1/orders',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${p.token}` },
        body: JSON.stringify({
          items: [...lines].map((productId) => ({ productId, quantity: 1 })),
          userCouponId: p.userCouponId,
        }),
      };
    });
    out.push({
      scenario: '(a) 3 lines, 1,000 products, coupon',
      mode,
      paid: a.codes[201] ?? 0,
      codes: a.codes,
      rps: (a.codes[201] ?? 0) / a.seconds,
      ...pct(a.hist),
    });

    // (b) every buyer on one hot product.
    let ib = 0;
    const hotBody = JSON.stringify({ items: [{ productId: hot, quantity: 1 }] });
    const b = await load(base, ORDERS, () => ({
      path: '/api/v1/orders',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${users[ib++ % users.length].token}`,
      },
      body: hotBody,
    }));
    out.push({
      scenario: '(b) one hot product',
      mode,
      paid: b.codes[201] ?? 0,
      codes: b.codes,
      rps: (b.codes[201] ?? 0) / b.seconds,
      ...pct(b.hist),
    });

    if (process.env.BENCH_METRICS) {
      const m = await request(`${base}/metrics`, { dispatcher: agent });
      const text = await m.body.text();
      process.stderr.write(
        `${text
          .split('\n')
          .filter((l) =>
            /^stampede_group_commit_(batch_size|duration_seconds)_(sum|count)|^stampede_outbox_lag|^process_cpu_seconds_total/.test(
              l,
            ),
          )
          .join('\n')}\n`,
      );
    }
    // Audit in PostgreSQL.
    const url = mode === 'embedded' ? embeddedPgUrl(dataDir) : env.DATABASE_URL;
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    const audit = (
      await db.query(`
        SELECT
          (SELECT count(*) FROM products p WHERE p.stock < 0
             OR p.stock + COALESCE((SELECT sum(quantity) FROM order_items i WHERE i.product_id = p.id), 0)
                <> CASE WHEN p.name = 'hot' THEN ${HOT_STOCK} ELSE ${STOCK} END)::int AS "productsOff",
          (SELECT count(*) FROM orders)::int AS orders,
          (SELECT count(*) FROM orders WHERE user_coupon_id IS NOT NULL)::int AS "withCoupon",
          (SELECT count(*) FROM user_coupons WHERE status = 'USED')::int AS "couponsUsed",
          (SELECT count(*) FROM point_wallets w WHERE w.balance <> (SELECT sum(amount) FROM point_ledger l WHERE l.user_id = w.user_id))::int AS "walletsOff"`)
    ).rows[0];
    await db.end();
    const paid = out.filter((r) => r.mode === mode).reduce((s, r) => s + r.paid, 0);
    const ok =
      audit.productsOff === 0 &&
      audit.walletsOff === 0 &&
      audit.orders === paid &&
      audit.withCoupon === audit.couponsUsed;
    for (const r of out)
      if (r.mode === mode) r.audit = ok ? 'ok' : `FAILED ${JSON.stringify(audit)} paid=${paid}`;
    process.stderr.write(`[${mode}] audit ${JSON.stringify(audit)} 201s=${paid}\n`);
  } finally {
    await srv.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    if (dbName) {
      const admin = new pg.Client({ connectionString: PG_SERVER });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      await admin.end();
    }
  }
  return out;
}

const rows = [];
const bare = await baseline();
for (const mode of MODES) rows.push(...(await runMode(mode)));
await agent.close();

const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
const fmt = (n) => Math.round(n).toLocaleString('en-US');
const lines = [
  `machine: ${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}; ${ORDERS} orders per scenario, ${CONNECTIONS} connections`,
  '',
  '| scenario | mode | paid orders/s | p50 ms | p95 ms | p99 ms | other answers | baseline req/s | ratio | audit |',
  '|---|---|---:|---:|---:|---:|---|---:|---:|---|',
  `| bare Fastify POST (baseline) | - | ${fmt(bare.rps)} | ${bare.p50} | ${bare.p95} | ${bare.p99} | - | ${fmt(bare.rps)} | 1.00 | - |`,
  ...rows.map(
    (r) =>
      `| ${r.scenario} | ${r.mode} | ${fmt(r.rps)} | ${r.p50} | ${r.p95} | ${r.p99} | ${
        Object.entries(r.codes)
          .filter(([c]) => c !== '201')
          .map(([c, n]) => `${c}×${n}`)
          .join(' ') || '-'
      } | ${fmt(bare.rps)} | ${(r.rps / bare.rps).toFixed(2)} | ${r.audit} |`,
  ),
];
process.stdout.write(`${lines.join('\n')}\n`);
process.exitCode = rows.every((r) => r.audit === 'ok') ? 0 : 1;
