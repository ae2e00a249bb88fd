/** Command-line parsing: profiles and their adjustments, k6 durations, and refusals with reasons. */
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/drill/duration.js';
import { DrillUsageError } from '../../src/drill/errors.js';
import { type DrillOptions, parseDrillArgs } from '../../src/drill/options.js';
import { peakVUs } from '../../src/drill/profiles.js';
import { totalDurationMs } from '../../src/drill/stages.js';

function opts(...argv: string[]): DrillOptions {
  const p = parseDrillArgs(argv, {});
  if (p.help) throw new Error('help');
  return p.options;
}

describe('drill options', () => {
  it('reads k6 durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('2')).toBe(2_000);
    expect(() => parseDuration('2 minutes')).toThrow(DrillUsageError);
    expect(() => parseDuration('')).toThrow(DrillUsageError);
  });

  it('maps the profiles to the k6 test plans', () => {
    const spike = opts('coupon-drop', '--profile', 'spike').profile;
    expect(spike.stages).toEqual([
      { durationMs: 10_000, target: 500 },
      { durationMs: 30_000, target: 500 },
      { durationMs: 10_000, target: 0 },
    ]);
    expect(opts('coupon-drop').profile).toMatchObject({ name: 'smoke', startVUs: 10 });
    expect(opts('coupon-drop', '--profile', 'load').profile.stages).toEqual([
      { durationMs: 120_000, target: 100 },
    ]);
    expect(opts('coupon-drop', '--profile', 'stress').profile).toMatchObject({
      startVUs: 100,
      stages: [{ durationMs: 300_000, target: 300 }],
    });
  });

  it('--scale multiplies VUs and shortens nothing; --vus sets the peak; --duration stretches', () => {
    const scaled = opts('coupon-drop', '--profile', 'spike', '--scale', '0.5').profile;
    expect(peakVUs(scaled)).toBe(250);
    expect(totalDurationMs(scaled.stages)).toBe(50_000);
    const short = opts('coupon-drop', '--profile', 'spike', '--vus', '100', '--duration', '5s').profile;
    expect(peakVUs(short)).toBe(100);
    expect(short.stages.map((s) => s.durationMs)).toEqual([1_000, 3_000, 1_000]);
    expect(opts('coupon-drop', '--vus', '7', '--duration', '3s').profile).toMatchObject({
      name: 'custom',
      startVUs: 7,
      stages: [{ durationMs: 3_000, target: 7 }],
    });
  });

  it('refuses what does not make sense, naming the flag', () => {
    const bad: [string[], RegExp][] = [
      [[], /which scenario/],
      [['nope'], /unknown scenario "nope"/],
      [['coupon-drop', '--profile', 'soak'], /--profile must be one of/],
      [['coupon-drop', '--vus', 'ten'], /--vus must be a whole number/],
      [['coupon-drop', '--rate', '10'], /--rate applies to --executor ramping-arrival-rate only/],
      [
        ['coupon-drop', '--executor', 'ramping-arrival-rate', '--think-time', '1s'],
        /--think-time applies to the closed model/,
      ],
      [['coupon-drop', '--target', 'http://127.0.0.1:1'], /needs the server's admin token/],
      [['coupon-drop', '--target', 'ftp://x'], /--target must start with http: or https:/],
      [['coupon-drop', '--retry-share', '2'], /--retry-share must be between 0 and 1/],
      [['coupon-drop', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [argv, why] of bad) expect(() => parseDrillArgs(argv, {}), argv.join(' ')).toThrow(why);
  });

  it('takes the admin token from the environment when not given', () => {
    const p = parseDrillArgs(['coupon-drop', '--target', 'http://127.0.0.1:9'], {
      STAMPEDE_ADMIN_TOKEN: 'from-env-token-123',
    });
    expect(!p.help && p.options.adminToken).toBe('from-env-token-123');
  });

  it('describes an adjusted profile as it now runs, and a named one in its own words', () => {
    expect(opts('coupon-drop', '--profile', 'spike').profile.description).toBe(
      '0 → 500 VUs in 10 s, hold 30 s, down to 0 in 10 s',
    );
    expect(
      opts('coupon-drop', '--profile', 'spike', '--vus', '200', '--duration', '20s').profile.description,
    ).toBe('0 → 200 VUs in 4 s, hold 12 s, down to 0 in 4 s');
    expect(opts('coupon-drop', '--profile', 'stress', '--scale', '0.1').profile.description).toBe(
      '10 → 30 VUs in 5 min',
    );
    expect(opts('coupon-drop', '--profile', 'smoke', '--duration', '90s').profile.description).toBe(
      '10 VUs for 1 min 30 s',
    );
  });

  it('says where the admin token is when --target comes without one, and where a token came from', () => {
    expect(() => parseDrillArgs(['coupon-drop', '--target', 'http://127.0.0.1:9'], {})).toThrow(
      /<DATA_DIR>\/admin-token \(DATA_DIR defaults to \.\/\.data/,
    );
    const source = (argv: string[], env: NodeJS.ProcessEnv) => {
      const p = parseDrillArgs(['coupon-drop', '--target', 'http://127.0.0.1:9', ...argv], env);
      return p.help ? undefined : p.options.adminTokenSource;
    };
    expect(source(['--admin-token', 'flag-token'], { ADMIN_TOKEN: 'x' })).toBe('--admin-token');
    expect(source([], { STAMPEDE_ADMIN_TOKEN: 'a', ADMIN_TOKEN: 'b' })).toBe('$STAMPEDE_ADMIN_TOKEN');
    expect(source([], { ADMIN_TOKEN: 'b' })).toBe('$ADMIN_TOKEN');
  });
});
