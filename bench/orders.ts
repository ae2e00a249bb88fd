/**
 * Order throughput benchmark. Importing this module does nothing; `npm run bench:orders` builds it
 * and runs main().
 */
import { existsSync, writeFileSync } from 'node:fs';
import { readCommerceFacts, withDatabase } from '../src/drill/audit-queries.js';
import { serverEntry } from '../src/drill/process.js';
import { chargeAll, claimCoupon } from '../src/drill/scenarios/catalog-setup.js';
import { createUsers } from '../src/drill/scenarios/users.js';
import { asArray, asObject, str } from '../src/drill/shape.js';
import { fmt, machine, ms } from './lib/format.js';
import { type LoadRequest, type LoadResult, runLoad } from './lib/load.js';
import { type BenchOptions, type Mode, parseBenchArgs, positiveInt } from './lib/options.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';
import { metricsText } from './lib/server-metrics.js';
import { startBareServer, withServerUnderTest } from './lib/servers.js';

export const USAGE = `Order throughput benchmark: npm run bench:orders [-- --orders 30000 --connections 128 --quick]

Prints paid orders/s and p50/p95/p99 latency for
  (a) 3-line orders over 1,000 products, each with its own coupon
  (b) every buyer on one hot product
in embedded and cluster mode, next to a bare Fastify POST route measured in the same run
(bench/bare-server.mjs), then audits PostgreSQL: no oversell (stock + sold = initial for every
product), every wallet equals its ledger, orders = 201 answers, one coupon per order.

Servers run as child processes (\`node dist/cli.js serve\`); the npm script builds first. Cluster mode
uses a fresh database on the local PostgreSQL (dropped afterwards) and a random Redis key prefix
(deleted afterwards). Load goes to 127.0.0.1 only.

Options:
  --orders N        orders per scenario (default 30000; --quick: 3000)   env BENCH_ORDERS
  --connections N   concurrent connections (default 128)                 env BENCH_CONNECTIONS
  --duration S      seconds of the bare baseline (default 5; --quick: 2)
  --quick           fewer orders and 1,000 users instead of 5,000, for a smoke check
  --modes LIST      comma list of embedded,cluster (default both)        env BENCH_MODES
  --server-env LIST extra env for the server under test, e.g. ORDER_COMMIT_CONCURRENCY=2
  --profile DIR     run the server under test with \`node --cpu-prof --cpu-prof-dir=DIR\`
  --server-root DIR run DIR/dist/cli.js (a built worktree of an older commit) as the server under test
  --json FILE       also write every figure as JSON
  -h, --help        this text
Env: BENCH_PG_URL, BENCH_REDIS_URL as for bench:coupons; BENCH_METRICS=1 prints the server's
group-commit and outbox metrics after each mode.
`;

const PRODUCTS = 1_000;
const PRICE = 10;
const STOCK = 1_000_000;
const HOT_STOCK = 10_000_000;
const POINTS = 1_000_000;

export interface OrderRow {
  scenario: string;
  mode: string;
  paid: number;
  codes: Record<string, number>;
  /** Paid orders (201) per second. */
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  audit?: string;
}

function rowOf(scenario: string, mode: string, r: LoadResult): OrderRow {
  const paid = r.statuses['201'] ?? 0;
  return {
    scenario,
    mode,
    paid,
    codes: r.statuses,
    rps: paid / r.seconds,
    p50: r.p50,
    p95: r.p95,
    p99: r.p99,
  };
}

/** `amount` orders built by `next`, autocannon with 30 s per request. */
function orderLoad(url: string, amount: number, connections: number, next: (n: number) => LoadRequest) {
  return runLoad({ url, connections, amount, timeoutSec: 30, request: next });
}

async function baseline(opts: BenchOptions, cleanups: Cleanups) {
  const { server, stop } = await startBareServer(cleanups);
  const body = JSON.stringify({ items: [{ productId: '1', quantity: 1 }] });
  const r = await runLoad({
    url: server.url,
    connections: opts.connections,
    seconds: opts.duration,
    timeoutSec: 30,
    request: () => ({ path: '/bare', headers: { 'content-type': 'application/json' }, body }),
  });
  await stop();
  return { rps: (r.statuses['200'] ?? 0) / r.seconds, p50: r.p50, p95: r.p95, p99: r.p99 };
}

async function runMode(
  mode: 'embedded' | 'cluster',
  orders: number,
  userCount: number,
  opts: BenchOptions,
  cleanups: Cleanups,
): Promise<OrderRow[]> {
  return withServerUnderTest(mode, cleanups, opts, 64, async (sut, api) => {
    const base = sut.server.url;
    const token = sut.adminToken;
    const out: OrderRow[] = [];
    log(`${mode}: server ready; seeding`);
    const bulk = asObject(
      await api.must('POST', '/api/v1/admin/products/bulk', 201, {
        token,
        body: {
          products: Array.from({ length: PRODUCTS }, (_, i) => ({
            name: `bench-${i}`,
            price: PRICE,
            stock: STOCK,
          })),
        },
      }),
      'bulk products',
    );
    const products = asArray(bulk.ids, 'bulk products.ids').map(String);
    const hot = str(
      asObject(
        await api.must('POST', '/api/v1/admin/products', 201, {
          token,
          body: { name: 'hot', price: PRICE, stock: HOT_STOCK },
        }),
        'product',
      ),
      'id',
      'product',
    );
    const users = await createUsers(api, token, userCount, 'bench', log);
    await chargeAll(api, users.tokens, POINTS, `bench-${Date.now().toString(36)}`);
    // One coupon per order in scenario (a): ceil(orders / users) drops, each issued to every user.
    const pairs: { token: string; userCouponId: string }[] = [];
    for (let d = 0; d < Math.ceil(orders / userCount); d++) {
      const c = asObject(
        await api.must('POST', '/api/v1/admin/coupons', 201, {
          token,
          body: {
            name: `bench-${d}`,
            discount: { type: d % 2 ? 'PERCENT' : 'AMOUNT', value: d % 2 ? 10 : 5 },
            quantity: userCount,
          },
        }),
        'coupon',
      );
      const claimed = await claimCoupon(api, users.tokens, str(c, 'id', 'coupon'));
      claimed.forEach((userCouponId, i) => {
        if (userCouponId === undefined) throw new Error(`user ${users.ids[i]} could not claim coupon ${d}`);
        pairs.push({ token: users.tokens[i], userCouponId });
      });
    }
    log(`${mode}: seeded ${PRODUCTS + 1} products, ${userCount} users, ${pairs.length} coupons`);

    // (a) 3-line orders over 1,000 products, each with its own coupon.
    const a = await orderLoad(base, orders, opts.connections, (n) => {
      const p = pairs[n % pairs.length];
      const lines = new Set<string>();
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
    out.push(rowOf('(a) 3 lines, 1,000 products, coupon', mode, a));

    // (b) every buyer on one hot product.
    const hotBody = JSON.stringify({ items: [{ productId: hot, quantity: 1 }] });
    const b = await orderLoad(base, orders, opts.connections, (n) => ({
      path: '/api/v1/orders',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${users.tokens[n % users.tokens.length]}`,
      },
      body: hotBody,
    }));
    out.push(rowOf('(b) one hot product', mode, b));

    if (process.env.BENCH_METRICS) {
      const text = await metricsText(base);
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

    const initial = new Map<string, number>(products.map((id) => [id, STOCK]));
    initial.set(hot, HOT_STOCK);
    const facts = await withDatabase(
      sut.databaseUrl,
      (db) => readCommerceFacts(db, initial),
      'stampede-bench-audit',
    );
    const paid = out.reduce((s, r) => s + r.paid, 0);
    const ok =
      facts.productsOff === 0 &&
      facts.walletsOff === 0 &&
      facts.orders === paid &&
      facts.ordersWithCoupon === facts.couponsUsed;
    for (const r of out) r.audit = ok ? 'ok' : `FAILED ${JSON.stringify(facts)} paid=${paid}`;
    log(`${mode}: audit ${JSON.stringify(facts)} 201s=${paid}`);
    return out;
  });
}

function envDefault(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw === undefined ? fallback : positiveInt(name, raw);
}

/** Runs the benchmark for `argv`; resolves to the exit code (1 when an audit failed). */
export async function main(argv: readonly string[], cleanups: Cleanups): Promise<number> {
  const ordersEnv = envDefault('BENCH_ORDERS', 30_000);
  const opts = parseBenchArgs(argv, {
    connections: envDefault('BENCH_CONNECTIONS', 128),
    duration: 5,
    quickDuration: 2,
    warmup: 0,
    quickWarmup: 0,
    modes: (process.env.BENCH_MODES ?? 'embedded,cluster').split(',') as Mode[],
    allowedModes: ['embedded', 'cluster'],
    extra: { orders: [ordersEnv, Math.min(ordersEnv, 3_000)] },
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  const orders = opts.extra.orders;
  const userCount = opts.quick ? 1_000 : 5_000;
  const bare = await baseline(opts, cleanups);
  const rows: OrderRow[] = [];
  for (const mode of ['embedded', 'cluster'] as const) {
    if (!opts.modes.has(mode)) continue;
    for (const row of await runMode(mode, orders, userCount, opts, cleanups)) rows.push(row);
  }
  await cleanups.runAll();

  const m = machine();
  const other = (r: OrderRow) =>
    Object.entries(r.codes)
      .filter(([c]) => c !== '201')
      .map(([c, n]) => `${c}×${n}`)
      .join(' ') || '-';
  const lines = [
    `machine: ${m.cpus} × ${m.model}, ${m.memGiB} GiB, node ${m.node}; ${orders} orders per scenario, ${opts.connections} connections`,
    '',
    '| scenario | mode | paid orders/s | p50 ms | p95 ms | p99 ms | other answers | baseline req/s | ratio | audit |',
    '|---|---|---:|---:|---:|---:|---|---:|---:|---|',
    `| bare Fastify POST (baseline) | - | ${fmt(bare.rps)} | ${ms(bare.p50)} | ${ms(bare.p95)} | ${ms(bare.p99)} | - | ${fmt(bare.rps)} | 1.00 | - |`,
    ...rows.map(
      (r) =>
        `| ${r.scenario} | ${r.mode} | ${fmt(r.rps)} | ${ms(r.p50)} | ${ms(r.p95)} | ${ms(r.p99)} | ${other(r)} | ` +
        `${fmt(bare.rps)} | ${(r.rps / bare.rps).toFixed(2)} | ${r.audit} |`,
    ),
  ];
  if (opts.serverRoot) lines.push('', `server under test: ${opts.serverRoot}/dist/cli.js`);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (opts.jsonFile) {
    writeFileSync(
      opts.jsonFile,
      JSON.stringify({ machine: m, orders, connections: opts.connections, bare, rows }, null, 2),
    );
  }
  return rows.every((r) => r.audit === 'ok') ? 0 : 1;
}

if (isMain(import.meta.url)) runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE);
