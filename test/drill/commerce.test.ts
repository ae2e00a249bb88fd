/**
 * checkout and browse against a real server (one process, --target): each passes its audit and
 * thresholds, and — read independently from PostgreSQL afterwards — checkout sold exactly the
 * stock it reports, no more, while browse changed nothing.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(() => server?.stop());

function explain(run: CliRun): string {
  return `exit ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`;
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<T[]> {
  const db = new pg.Client({ connectionString: server.databaseUrl });
  await db.connect();
  try {
    return (await db.query<T>(sql, params)).rows;
  } finally {
    await db.end();
  }
}

describe('checkout', () => {
  it('sells the stock out exactly, keeps every balance = charges − paid, and passes its audit', async () => {
    const run = await runDrillCli([
      'checkout',
      '--target',
      server.url,
      '--admin-token',
      server.adminToken,
      '--vus',
      '60',
      '--duration',
      '3s',
      '--think-time',
      '20ms..80ms',
      '--users',
      '100',
      '--products',
      '5',
      '--stock',
      '10',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expect(s.audit.verdict).toBe('PASS');
    expect(s.audit.checks.map((c) => c.name)).toEqual([
      'lists_readable',
      'no_oversell',
      'stock_conserved',
      'acknowledged_orders_exist',
      'no_unacknowledged_orders',
      'points_balance',
      'coupon_used_once',
      'order_totals_consistent',
      'coupon_refusals_explained',
    ]);
    // 50 units for 100 eager buyers: sold out, and OUT_OF_STOCK was an expected answer, not a failure.
    expect(s.audit.facts.soldUnits).toBe(50);
    expect(s.metrics.orders_out_of_stock.values.count).toBeGreaterThan(0);
    expect(s.metrics.http_req_failed.values.passes).toBe(0);
    expect(s.metrics.orders_paid.values.count).toBe(s.audit.facts.answered201);

    // Independently, from PostgreSQL: the checkout's 5 products (browse's are named drill-browse-*).
    const mine = "SELECT id FROM products WHERE name NOT LIKE 'drill-browse-%'";
    const stock = await query<{ left: number; n: number }>(
      `SELECT coalesce(sum(stock), 0)::int AS left, count(*)::int AS n FROM products WHERE id IN (${mine})`,
      [],
    );
    const rows = await query<{ sold: number; orders: number }>(
      `SELECT coalesce(sum(quantity), 0)::int AS sold, count(DISTINCT order_id)::int AS orders FROM order_items WHERE product_id IN (${mine})`,
      [],
    );
    expect(stock[0]).toEqual({ left: 0, n: 5 });
    expect(rows[0].sold).toBe(50);
    expect(rows[0].orders).toBe(s.metrics.orders_paid.values.count);
  });
});

describe('browse', () => {
  it('reads the catalog, best sellers included, changes nothing and passes its audit', async () => {
    const run = await runDrillCli([
      'browse',
      '--target',
      server.url,
      '--admin-token',
      server.adminToken,
      '--vus',
      '40',
      '--duration',
      '3s',
      '--think-time',
      '20ms..80ms',
      '--products',
      '120',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expect(s.audit.checks.map((c) => [c.name, c.ok])).toEqual([
      ['catalog_listed', true],
      ['reads_changed_nothing', true],
      ['details_matched', true],
      ['popular_sorted', true],
    ]);
    for (const m of ['browse_list_pages', 'browse_details', 'browse_best_sellers']) {
      expect(s.metrics[m].values.count, m).toBeGreaterThan(0);
    }
    expect(s.root_group.checks.every((c) => c.fails === 0)).toBe(true);
  });
});

describe('checkout with --database-url', () => {
  it('also audits stock, orders, wallets and ledgers straight from PostgreSQL, and keeps the API checks', async () => {
    const run = await runDrillCli([
      'checkout',
      '--target',
      server.url,
      '--admin-token',
      server.adminToken,
      '--database-url',
      server.databaseUrl,
      '--vus',
      '40',
      '--duration',
      '3s',
      '--think-time',
      '20ms..80ms',
      '--users',
      '60',
      '--products',
      '4',
      '--stock',
      '10',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expect(s.audit.verdict).toBe('PASS');
    expect(s.audit.checks.filter((c) => c.source === 'api').map((c) => c.name)).toEqual([
      'lists_readable',
      'no_oversell',
      'stock_conserved',
      'acknowledged_orders_exist',
      'no_unacknowledged_orders',
      'points_balance',
      'coupon_used_once',
      'order_totals_consistent',
      'coupon_refusals_explained',
    ]);
    expect(s.audit.checks.filter((c) => c.source === 'database').map((c) => [c.name, c.ok])).toEqual([
      ['db_stock_conserved', true],
      ['db_wallets_match_ledger', true],
      ['db_coupon_orders_match_used', true],
      ['db_orders_match_api', true],
      ['db_balances_match_api', true],
    ]);
    // What PostgreSQL holds for the drill's users is what they saw through the API.
    expect(s.audit.facts.dbOrders).toBe(s.audit.facts.serverOrders);
    expect(s.audit.facts.dbOrders).toBe(s.metrics.orders_paid.values.count);
    expect(s.audit.notes.join(' ')).not.toMatch(/PostgreSQL not audited/);
    expect(run.stdout).toMatch(/✓ db_orders_match_api .* \(PostgreSQL\)/);
  });
});
