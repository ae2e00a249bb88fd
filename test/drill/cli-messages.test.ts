/**
 * What the drill tells its user: the end-of-run summary names every threshold with its expression
 * and observed value and every check by name (k6 style), and the verdict says what failed; a
 * refused admin token or an unreachable target is explained with the flag to fix and where the
 * token is; and a drill that could not start leaves no empty output folder behind.
 */
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DrillSummary, renderText } from '../../src/drill/summary.js';
import { FAKE_ADMIN_TOKEN, type FakeApi, startFakeCouponApi } from './support/fake-coupon-api.js';
import { expectedExit, removeOutDirs, runDrillCli, tempOut } from './support/run-cli.js';

afterAll(removeOutDirs);

let api: FakeApi;
beforeAll(async () => {
  api = await startFakeCouponApi();
});
afterAll(() => api.close());

const SMALL = ['--vus', '10', '--duration', '1s', '--think-time', '20ms', '--users', '100', '--quiet'];

describe('the terminal summary', () => {
  let run: Awaited<ReturnType<typeof runDrillCli>>;
  beforeAll(async () => {
    run = await runDrillCli([
      'coupon-drop',
      '--target',
      api.url,
      '--admin-token',
      FAKE_ADMIN_TOKEN,
      ...SMALL,
      '--threshold',
      'http_req_duration: p(99)<0.001',
      '--threshold',
      'http_req_failed: rate<0.01',
      '--threshold',
      'checks: rate==1',
    ]);
  });

  it('names each threshold with its expression and the value it was tested on', () => {
    expect(run.code, run.stderr).toBe(expectedExit(run, 99));
    expect(run.stdout).toMatch(/^ {2}thresholds: 2 of 3 passed$/m);
    expect(run.stdout).toMatch(/^ {4}✗ http_req_duration\.+: p\(99\)<0\.001 +p\(99\)=\d+\.\d\dms$/m);
    expect(run.stdout).toMatch(/^ {4}✓ http_req_failed\.+: rate<0\.01 +rate=0\.00%$/m);
    expect(run.stdout).toMatch(/^ {4}✓ checks\.+: rate==1 +rate=100\.00%$/m);
    // In the order given, before the metrics.
    const at = (re: RegExp) => run.stdout.search(re);
    expect(at(/✗ http_req_duration\.+: p\(99\)/)).toBeLessThan(at(/✓ http_req_failed\.+: rate</));
    expect(at(/✓ checks\.+: rate==1/)).toBeLessThan(at(/^ {2}metrics:$/m));
    // summary.json carries the same outcomes, values included.
    const t = (run.summary as DrillSummary).stampede.thresholds;
    expect(t.map((x) => [x.metric, x.expression, x.ok, x.aggregation])).toEqual([
      ['http_req_duration', 'p(99)<0.001', false, 'p(99)'],
      ['http_req_failed', 'rate<0.01', true, 'rate'],
      ['checks', 'rate==1', true, 'rate'],
    ]);
    expect(t[0].observed).toBeGreaterThan(0.001);
  });

  it('names each check, and the verdict names what failed', () => {
    const s = run.summary as DrillSummary;
    const issued = s.root_group.checks.find((c) => c.name.startsWith('issue answered'));
    expect(issued).toBeDefined();
    expect(run.stdout).toMatch(/^ {2}checks: 100\.00% passed \(\d+ of \d+\)$/m);
    expect(run.stdout).toMatch(
      new RegExp(
        `^ {4}✓ issue answered 201, 409 ALREADY_ISSUED or 410 SOLD_OUT\\.+: ${issued?.passes} of ${issued?.passes}$`,
        'm',
      ),
    );
    expect(run.stdout).toMatch(/^ {4}✓ 201 carries a userCouponId\.+: \d+ of \d+$/m);
    if (run.code === 99) {
      expect(run.stdout).toMatch(
        /^ {2}verdict: THRESHOLDS FAILED \(exit 99\) — failed: http_req_duration: p\(99\)<0\.001$/m,
      );
    }
  });

  it('marks a failed check and a failed checks threshold', () => {
    const s = structuredClone(run.summary as DrillSummary);
    s.root_group.checks[0].fails = 5;
    s.stampede.thresholds[2] = { ...s.stampede.thresholds[2], ok: false, observed: 0.999 };
    const text = renderText(s, { summary: 'summary.json', report: 'report.html' });
    expect(text).toMatch(/^ {2}thresholds: 1 of 3 passed$/m);
    expect(text).toMatch(/^ {4}✗ checks\.+: rate==1 +rate=99\.90%$/m);
    const c = s.root_group.checks[0];
    expect(text).toContain(`    ✗ ${c.name}..`);
    expect(text).toMatch(new RegExp(`: ${c.passes} of ${c.passes + 5} \\(5 failed\\)$`, 'm'));
  });
});

async function closedPort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('a drill that cannot start', () => {
  it('explains a refused admin token: the flag to pass and where the token is', async () => {
    const parent = tempOut();
    const out = path.join(parent, 'run', 'here');
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      api.url,
      '--admin-token',
      'not-the-admin-token',
      ...SMALL,
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(
      'stampede drill: could not run: the target refused the admin token (POST /api/v1/admin/users/bulk answered 401 UNAUTHENTICATED)',
    );
    expect(run.stderr).toMatch(new RegExp(`pass the ADMIN_TOKEN of ${api.url} with --admin-token T;`));
    expect(run.stderr).toMatch(/keeps it in <DATA_DIR>\/admin-token/);
    expect(run.stderr).not.toMatch(/came from/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
    // Nothing was written, so nothing is left: not the folder, not the folders made for it.
    expect(existsSync(path.join(parent, 'run'))).toBe(false);
    expect(readdirSync(parent)).toEqual([]);
  });

  it('says where a refused token came from when it was not --admin-token', async () => {
    const run = await runDrillCli(['coupon-drop', '--target', api.url, ...SMALL], {
      env: { STAMPEDE_ADMIN_TOKEN: 'stale-token-from-env', ADMIN_TOKEN: '' },
    });
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toMatch(/the target refused the admin token/);
    expect(run.stderr).toMatch(/\(the one used came from \$STAMPEDE_ADMIN_TOKEN\)/);
    expect(existsSync(run.outDir) && readdirSync(run.outDir).length).toBe(0); // the test's own folder, untouched
  });

  it('names --target when the target does not answer, and leaves no output folder', async () => {
    const port = await closedPort();
    const parent = tempOut();
    const out = path.join(parent, 'never');
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      `http://127.0.0.1:${port}`,
      '--admin-token',
      'whatever-token',
      ...SMALL,
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(
      `stampede drill: could not run: --target http://127.0.0.1:${port}: GET http://127.0.0.1:${port}/readyz did not answer 200`,
    );
    expect(run.stderr).toMatch(/leave out --target and the drill starts its own/);
    expect(existsSync(out)).toBe(false);
  });

  it('names where the token is when --target comes without one', async () => {
    const run = await runDrillCli(['coupon-drop', '--target', api.url, ...SMALL], {
      env: { STAMPEDE_ADMIN_TOKEN: '', ADMIN_TOKEN: '' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--target needs the server's admin token: --admin-token T/);
    expect(run.stderr).toMatch(/<DATA_DIR>\/admin-token/);
  });
});
