/**
 * The drill against the real server, with small numbers (the spike shape at 300 VUs over 5 s): it passes its audit and
 * thresholds, and what summary.json counts agrees with what the server holds — checked once by
 * the drill's own run in embedded mode (it starts and stops the server itself), and once
 * independently, by reading the server's API and PostgreSQL after a --target run.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { request } from 'undici';
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

const LOAD = [
  '--profile',
  'spike',
  '--vus',
  '300',
  '--duration',
  '5s',
  '--think-time',
  '300ms..700ms',
  '--users',
  '1000',
  '--quantity',
  '400',
  '--quiet',
  ...LENIENT_THRESHOLDS,
];

function count(s: DrillSummary, metric: string): number {
  return s.metrics[metric]?.values.count ?? Number.NaN;
}

function explain(run: CliRun): string {
  return `exit ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`;
}

function expectConsistentCounts(s: DrillSummary) {
  // Every answer was a business answer (201/409/410), none a failure.
  expect(s.metrics.http_req_failed.values.passes).toBe(0);
  expect(count(s, 'coupon_issued') + count(s, 'coupon_sold_out') + count(s, 'coupon_duplicate')).toBe(
    count(s, 'http_reqs'),
  );
  // The drop sold out: exactly the quantity was answered 201 and is held.
  expect(count(s, 'coupon_issued')).toBe(400);
  expect(s.audit.facts.granted).toBe(400);
  expect(s.audit.facts.remaining).toBe(0);
  expect(s.metrics.vus_max.values.max).toBe(300);
}

describe('coupon-drop against an embedded server the drill starts itself', () => {
  it('passes audit and thresholds, counts agree with the database, and the server is gone afterwards', async () => {
    const run = await runDrillCli(['coupon-drop', ...LOAD]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expect(s.audit.verdict).toBe('PASS');
    expect(s.stampede.thresholdsOk).toBe(true);
    expectConsistentCounts(s);
    // Embedded mode audits PostgreSQL directly too.
    expect(s.audit.facts.dbRows).toBe(400);
    expect(s.audit.checks.filter((c) => c.source === 'database').map((c) => [c.name, c.ok])).toEqual([
      ['db_no_oversell', true],
      ['db_no_duplicate', true],
      ['db_counter_matches_rows', true],
      ['db_matches_api', true],
    ]);
    expect(existsSync(path.join(run.outDir, 'report.html'))).toBe(true);
    // Stopped and cleaned up: the port refuses connections, the throwaway DATA_DIR is removed.
    const refused = await fetch(`${s.stampede.target.url}/healthz`).then(
      () => false,
      () => true,
    );
    expect(refused).toBe(true);
    const dataDir = /data\s+(\S+)/.exec(readFileSync(path.join(run.outDir, 'server.log'), 'utf8'))?.[1];
    expect(dataDir).toMatch(/stampede-drill-/);
    expect(existsSync(dataDir as string)).toBe(false);
  });
});

describe('coupon-drop with --target, checked independently afterwards', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess();
  });
  afterAll(() => server?.stop());

  it("summary.json's counts equal what the server's API and PostgreSQL hold; the target's alerts are marked", async () => {
    // An alert rule the run's own traffic fires: the report marks it on the charts and lists it.
    const rule = {
      id: 'drill-traffic',
      kind: 'threshold',
      metric: 'http.rps',
      op: '>',
      value: 20,
      forSeconds: 1,
      severity: 'ticket',
    };
    const put = await request(`${server.url}/api/v1/admin/alert-rules`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rules: [rule] }),
    });
    expect(put.statusCode).toBe(200);
    await put.body.dump();
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      server.url,
      '--admin-token',
      server.adminToken,
      ...LOAD,
    ]);
    expect(run.code, explain(run)).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expectConsistentCounts(s);
    const couponId = String(s.setup_data.couponId);

    const coupon = (await (await fetch(`${server.url}/api/v1/coupons/${couponId}`)).json()) as {
      quantity: number;
      remaining: number;
    };
    expect(coupon.quantity - coupon.remaining).toBe(count(s, 'coupon_issued'));

    const db = new pg.Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: number; users: number }>(
        'SELECT count(*)::int AS n, count(DISTINCT user_id)::int AS users FROM user_coupons WHERE coupon_id = $1',
        [couponId],
      );
      expect(rows[0].n).toBe(count(s, 'coupon_issued'));
      expect(rows[0].users).toBe(rows[0].n);
    } finally {
      await db.end();
    }
    // With --target and no --database-url the drill audits through the API only, and says so.
    expect(s.audit.checks.some((c) => c.source === 'database')).toBe(false);
    expect(s.audit.notes.join(' ')).toMatch(/PostgreSQL not audited/);

    const fired = s.stampede.alerts.find((a) => a.rule === 'drill-traffic');
    expect(fired, JSON.stringify(s.stampede.alerts)).toBeDefined();
    expect(fired?.startedAtSec).toBeGreaterThan(0);
    expect(fired?.startedAtSec).toBeLessThan(s.state.testRunDurationMs / 1_000 + 5);
    const html = readFileSync(path.join(run.outDir, 'report.html'), 'utf8');
    expect(html).toMatch(/<table id="alerts">.*drill-traffic/s);
    // On the charts too, when it fired within the sampled seconds.
    const lastT = s.timeline[s.timeline.length - 1]?.t ?? 0;
    if ((fired?.startedAtSec ?? Infinity) <= lastT) expect(html).toContain('▲ drill-traffic');
  });
});
