/**
 * Run tags and --cleanup against a real server (one process, --target): every row a drill creates
 * carries its run's tag, printed and kept in summary.json; with --cleanup the run's rows are deleted
 * at the end (what was deleted is printed and kept in the summary), and — read straight from
 * PostgreSQL — nothing of the run is left while the rows that were there before are untouched.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDrillArgs, USAGE } from '../../src/drill/options.js';
import { newRunTag } from '../../src/drill/run-tag.js';
import type { DrillSummary } from '../../src/drill/summary.js';
import {
  type CliRun,
  expectedExit,
  LENIENT_THRESHOLDS,
  removeOutDirs,
  runDrillCli,
} from './support/run-cli.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

afterAll(removeOutDirs);

const explain = (run: CliRun) => `exit ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`;

describe('run tags (options)', () => {
  it('are drill-<UTC date>-<time>-<6 hex digits>, within the API rule', () => {
    const tag = newRunTag(new Date('2026-11-28T09:05:03.123Z'), 'a1b2c3');
    expect(tag).toBe('drill-20261128-090503-a1b2c3');
    expect(newRunTag()).toMatch(/^drill-\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(newRunTag()).not.toBe(newRunTag());
  });

  it('--cleanup needs --target, and --help documents it and the run tag', () => {
    expect(() => parseDrillArgs(['checkout', '--cleanup'], {})).toThrow(/--cleanup needs --target/);
    const parsed = parseDrillArgs(
      ['checkout', '--cleanup', '--target', 'http://127.0.0.1:1', '--admin-token', 't'],
      {},
    );
    expect(parsed.help === false && parsed.options.cleanup).toBe(true);
    expect(USAGE).toContain('--cleanup');
    expect(USAGE).toContain('run tag');
  });
});

describe('a drill with --cleanup against a real server', () => {
  let server: ServerProcess;
  let db: pg.Client;
  const q = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
    (await db.query<T>(sql, params)).rows;

  /** Every row of every table, as JSON, table by table (the whole database, small here). */
  async function everything(): Promise<Record<string, unknown[]>> {
    const tables = await q<{ t: string }>(
      `SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'pgmigrations' ORDER BY 1`,
    );
    const out: Record<string, unknown[]> = {};
    for (const { t } of tables) out[t] = await q(`SELECT * FROM ${t} ORDER BY 1`);
    return out;
  }

  beforeAll(async () => {
    server = await startServerProcess();
    db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    // Real data first: a shopper with points, an order and a coupon.
    const api = async (method: string, path: string, token: string | undefined, body?: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return (await res.json()) as Record<string, string>;
    };
    const ann = await api('POST', '/api/v1/users', undefined, { name: 'ann' });
    const product = await api('POST', '/api/v1/admin/products', server.adminToken, {
      name: 'real sneaker',
      price: 100,
      stock: 10,
    });
    const coupon = await api('POST', '/api/v1/admin/coupons', server.adminToken, {
      name: 'real drop',
      discount: { type: 'AMOUNT', value: 10 },
      quantity: 5,
    });
    await api('POST', '/api/v1/me/points/charge', ann.token, { amount: 1_000 });
    const uc = await api('POST', `/api/v1/coupons/${coupon.id}/issue`, ann.token);
    await api('POST', '/api/v1/orders', ann.token, {
      items: [{ productId: product.id, quantity: 2 }],
      userCouponId: uc.userCouponId,
    });
  });
  afterAll(async () => {
    await db?.end();
    await server?.stop();
  });

  it('tags what checkout creates, deletes all of it at the end, and leaves the real rows as they were', async () => {
    // The relay has delivered the real events (their rows then stay as they are).
    for (let i = 0; i < 100; i++) {
      const [{ n }] = await q<{ n: number }>(
        'SELECT count(*)::int AS n FROM outbox WHERE local_done_at IS NULL',
      );
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = await everything();
    expect(before.orders).toHaveLength(1);

    const run = await runDrillCli([
      'checkout',
      '--target',
      server.url,
      '--admin-token',
      server.adminToken,
      '--vus',
      '20',
      '--duration',
      '2s',
      '--think-time',
      '20ms..60ms',
      '--users',
      '40',
      '--products',
      '3',
      '--stock',
      '10',
      '--cleanup',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    const tag = s.stampede.runTag;
    expect(tag).toMatch(/^drill-\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(run.stderr).toContain(`run tag ${tag}`);
    expect(run.stdout).toContain(`run tag:  ${tag}`);

    // The audit read the run's rows before they went.
    expect(s.audit.verdict, explain(run)).toBe('PASS');
    expect(s.audit.facts.soldUnits).toBeGreaterThan(0);
    const cleanup = s.stampede.cleanup;
    expect(cleanup?.ok, explain(run)).toBe(true);
    if (!cleanup?.ok) return;
    expect(cleanup.deleted.users).toBe(40);
    expect(cleanup.deleted.products).toBe(3);
    expect(cleanup.deleted.coupons).toBe(1);
    expect(cleanup.deleted.orders).toBeGreaterThan(0);
    expect(cleanup.deleted.orderItems).toBeGreaterThanOrEqual(cleanup.deleted.orders);
    expect(cleanup.deleted.pointWallets).toBe(40);
    expect(cleanup.returned).toEqual({ stock: 0, couponUnits: 0, seats: 0 });
    expect(cleanup.kept).toEqual({ products: 0, coupons: 0, waitingRooms: 0 });
    expect(run.stdout).toMatch(/cleanup: deleted 40 users, 3 products, 1 coupons, \d+ orders/);

    // Straight from PostgreSQL: the database is what it was before the drill, row for row — the
    // outbox aside, whose delivery columns of the real events are the relay's to move.
    await new Promise((r) => setTimeout(r, 300));
    const after = await everything();
    const strip = (rows: unknown[]) =>
      rows.map((r) => ({ ...(r as object), local_done_at: null, webhook_next_at: null }));
    expect(strip(after.outbox)).toEqual(strip(before.outbox));
    delete after.outbox;
    delete before.outbox;
    expect(after).toEqual(before);
  });

  it('without --cleanup keeps the run and says how to delete it', async () => {
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      server.url,
      '--admin-token',
      server.adminToken,
      '--vus',
      '10',
      '--duration',
      '1s',
      '--users',
      '20',
      '--quantity',
      '5',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const tag = (run.summary as DrillSummary).stampede.runTag;
    expect((run.summary as DrillSummary).stampede.cleanup).toBeUndefined();
    expect(run.stderr).toContain(`DELETE /api/v1/admin/runs/${tag}`);
    const [counts] = await q<{ users: number; coupons: number; issued: number }>(
      `SELECT (SELECT count(*)::int FROM users WHERE run_tag = $1) AS users,
              (SELECT count(*)::int FROM coupons WHERE run_tag = $1) AS coupons,
              (SELECT count(*)::int FROM user_coupons uc JOIN users u ON u.id = uc.user_id WHERE u.run_tag = $1) AS issued`,
      [tag],
    );
    expect(counts).toEqual({ users: 20, coupons: 1, issued: 5 });
    // The API deletes it afterwards just the same.
    const res = await fetch(`${server.url}/api/v1/admin/runs/${tag}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { deleted: { users: number; userCoupons: number } }).deleted).toMatchObject(
      {
        users: 20,
        userCoupons: 5,
      },
    );
    const [{ n }] = await q<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE run_tag = $1', [tag]);
    expect(n).toBe(0);
  });
});
