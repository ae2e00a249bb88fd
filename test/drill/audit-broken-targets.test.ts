/**
 * The audit is only worth something if it fails on real bugs. Each test points the real CLI at
 * a small node:http stand-in of the coupon API that is wrong in one way, and expects exit 98 with
 * exactly the check that names that bug among the failures — plus a correct stand-in as control.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Bug, FAKE_ADMIN_TOKEN, type FakeApi, startFakeCouponApi } from './support/fake-coupon-api.js';
import {
  expectedExit,
  failedChecks,
  LENIENT_THRESHOLDS,
  removeOutDirs,
  runDrillCli,
} from './support/run-cli.js';

afterAll(removeOutDirs);

let api: FakeApi | null = null;
afterEach(async () => {
  await api?.close();
  api = null;
});

async function drillAgainst(bug: Bug | undefined, extra: string[]) {
  api = await startFakeCouponApi({ bug });
  return runDrillCli([
    'coupon-drop',
    '--target',
    api.url,
    '--admin-token',
    FAKE_ADMIN_TOKEN,
    '--vus',
    '40',
    '--duration',
    '2s',
    '--think-time',
    '20ms..60ms',
    '--graceful-stop',
    '2s',
    '--quiet',
    ...LENIENT_THRESHOLDS,
    ...extra,
  ]);
}

describe('the coupon-drop audit against deliberately broken targets', () => {
  it('passes a correct target (control): exit 0, every check green', async () => {
    const run = await drillAgainst(undefined, ['--users', '200', '--quantity', '50']);
    expect(failedChecks(run)).toEqual([]);
    expect(run.summary?.audit.verdict).toBe('PASS');
    expect(run.summary?.audit.facts.granted).toBe(50);
    expect(run.code, run.stderr).toBe(expectedExit(run, 0));
  });

  it('catches an oversell (off-by-one stock check): no_oversell fails, exit 98', async () => {
    const run = await drillAgainst('oversell', ['--users', '200', '--quantity', '50']);
    expect(run.code, run.stderr).toBe(98);
    expect(run.summary?.audit.verdict).toBe('FAIL');
    expect(failedChecks(run)).toContain('no_oversell');
    expect(run.summary?.audit.facts.granted).toBe(51);
    // Nobody holds it twice here: the audit names the bug, not everything.
    expect(failedChecks(run)).not.toContain('no_duplicate');
    expect(run.stdout).toMatch(/✗ no_oversell/);
  });

  it('catches a double issue to the same user: no_duplicate fails, exit 98', async () => {
    const run = await drillAgainst('double-issue', [
      '--users',
      '100',
      '--quantity',
      '100000',
      '--retry-share',
      '0.5',
    ]);
    expect(run.code, run.stderr).toBe(98);
    expect(failedChecks(run)).toContain('no_duplicate');
    expect(failedChecks(run)).not.toContain('no_oversell');
    expect(failedChecks(run)).not.toContain('acknowledged_in_list');
  });

  it('catches a 201 that was never stored: acknowledged_in_list fails, exit 98', async () => {
    const run = await drillAgainst('lost-write', ['--users', '200', '--quantity', '100000']);
    expect(run.code, run.stderr).toBe(98);
    expect(failedChecks(run)).toContain('acknowledged_in_list');
    // (no_duplicate may fail too: a user whose first 201 was lost retries and is answered 201 again.)
    expect(failedChecks(run)).not.toContain('no_oversell');
    const check = run.summary?.audit.checks.find((c) => c.name === 'acknowledged_in_list');
    expect(check?.detail).toMatch(/not in their list/);
  });
});
