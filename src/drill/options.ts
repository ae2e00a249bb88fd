/**
 * `stampede drill` command line → typed, validated options. Every mistake is a DrillUsageError
 * whose message names the flag and what it accepts (exit code 2, nothing is started).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration } from './duration.js';
import { ADMIN_TOKEN_HINT, DrillUsageError } from './errors.js';
import type { ExecutorKind } from './executors/types.js';
import { isProfileName, PROFILE_NAMES, type Profile, type ProfileName, resolveProfile } from './profiles.js';
import { parseThreshold, type Threshold } from './thresholds.js';

export const SCENARIO_NAMES = ['coupon-drop', 'checkout', 'browse', 'waiting-room', 'concert'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

/** The profile a scenario follows when no --profile, --vus or --duration is given; smoke if not listed. */
export const SCENARIO_DEFAULT_PROFILES: Readonly<Partial<Record<ScenarioName, ProfileName>>> = {
  concert: 'concert',
};

export interface ThinkTime {
  minMs: number;
  maxMs: number;
}

/** Scenario sizing knobs; each scenario documents its defaults (derived from the peak VUs). */
export interface ScenarioParams {
  users?: number;
  quantity?: number;
  retryShare?: number;
  products?: number;
  stock?: number;
  /** concert: share of holds abandoned instead of paid (0..1). */
  abandonShare?: number;
  /** concert: schedules of the concert, and seats per schedule. */
  schedules?: number;
  seats?: number;
}

export interface DrillOptions {
  scenario: ScenarioName;
  profile: Profile;
  executor: ExecutorKind;
  /** Open model: peak iterations per second, VU limits. */
  rate?: number;
  maxVUs?: number;
  preAllocatedVUs?: number;
  /** Without a target the drill starts its own embedded server. */
  target?: string;
  adminToken?: string;
  /** Where adminToken came from, for error messages. */
  adminTokenSource?: '--admin-token' | '$STAMPEDE_ADMIN_TOKEN' | '$ADMIN_TOKEN';
  databaseUrl?: string;
  outDir: string;
  /** null → the scenario's default thresholds. */
  thresholds: Threshold[] | null;
  /** Closed model pause between iterations; undefined → the scenario's default. */
  thinkTime?: ThinkTime;
  timeoutMs: number;
  gracefulStopMs: number;
  seed: number;
  quiet: boolean;
  /** After the audit, delete everything the run created on --target (DELETE /api/v1/admin/runs/:runTag). */
  cleanup: boolean;
  params: ScenarioParams;
}

export const USAGE = `usage: stampede drill <scenario> [options]
       npm run drill -- <scenario> [options]

scenarios: ${SCENARIO_NAMES.join(' | ')}

load
  --profile NAME         ${PROFILE_NAMES.join(' | ')} (default smoke; the concert scenario: concert)
  --vus N                peak VUs (with --profile: shape kept; alone: constant N VUs)
  --duration D           total duration (with --profile: stages stretched); 30s, 2m, 1m30s
  --scale F              multiply every VU target by F (durations unchanged)
  --executor KIND        ramping-vus (closed model, default) | ramping-arrival-rate (open model)
  --rate R               open model: peak iterations/s (default: peak VUs)
  --max-vus N            open model: VU limit; beyond it iterations are dropped (default: peak VUs)
  --pre-allocated-vus N  open model: VUs created up front (default: max VUs)
  --think-time D[..D]    closed model: pause between a VU's iterations, fixed or uniform range
  --timeout D            per-request timeout (default 10s)
  --graceful-stop D      time running iterations get to finish at the end (default 10s)
  --seed N               seed for the VUs' random choices (default 1)

target
  --target URL           a running stampede (default: start an embedded server for the run)
  --admin-token T        its ADMIN_TOKEN (default: $STAMPEDE_ADMIN_TOKEN, then $ADMIN_TOKEN)
  --database-url URL     also audit straight from PostgreSQL (automatic in embedded mode)
  --cleanup              with --target: after the audit, delete everything this run created
                         (DELETE /api/v1/admin/runs/<run tag>) and report what was deleted

  Every run has a run tag, drill-<UTC date>-<time>-<random>, printed at the start and kept in
  summary.json (stampede.runTag). Everything the run creates on the target carries it (users,
  products, coupons, waiting rooms; orders through their users): best sellers leave it out, and
  DELETE /api/v1/admin/runs/<run tag> (or --cleanup) removes it.

scenario sizing
  --users N              users created for the run
  --quantity Q           coupon-drop: coupons in the drop
  --retry-share F        coupon-drop: share of attempts immediately retried (0..1)
  --products N           checkout/browse: products created
  --stock N              checkout, browse: initial stock per product
  --schedules N          concert: schedules of the concert
  --seats N              concert: seats per schedule (1..1000)
  --abandon-share F      concert: share of holds abandoned, not paid (0..1; default 0.2)

verdict and output
  --threshold 'M: EXPR'  k6 threshold, repeatable; replaces the scenario's defaults
                         e.g. 'http_req_duration: p(95)<200'  'http_req_failed: rate<0.01'
  --out DIR              where summary.json and report.html go (default drill-out/<scenario>-<time>)
  --quiet                no live progress line

exit codes: 0 ok · 1 could not run · 2 usage · 97 generator saturated (result INVALID)
            98 audit failed · 99 thresholds failed
`;

function int(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new DrillUsageError(`--${flag} must be a whole number; got "${raw}".`);
  const n = Number(raw);
  if (n < min || n > max) throw new DrillUsageError(`--${flag} must be between ${min} and ${max}; got ${n}.`);
  return n;
}

function num(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n))
    throw new DrillUsageError(`--${flag} must be a number; got "${raw}".`);
  if (n < min || n > max) throw new DrillUsageError(`--${flag} must be between ${min} and ${max}; got ${n}.`);
  return n;
}

function parseThinkTime(raw: string): ThinkTime {
  const [a, b] = raw.split('..');
  const minMs = parseDuration(a, '--think-time');
  const maxMs = b === undefined ? minMs : parseDuration(b, '--think-time');
  if (maxMs < minMs) throw new DrillUsageError(`--think-time range must be low..high; got "${raw}".`);
  return { minMs, maxMs };
}

function parseUrl(flag: string, raw: string | undefined, protocols: string[]): string | undefined {
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new DrillUsageError(`--${flag} must be a URL; got "${raw}".`);
  }
  if (!protocols.includes(u.protocol)) {
    throw new DrillUsageError(`--${flag} must start with ${protocols.join(' or ')}; got "${u.protocol}".`);
  }
  return raw;
}

export type Parsed = { help: true } | { help: false; options: DrillOptions };

export function parseDrillArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Parsed {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new DrillUsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  if (parsed.positionals.length !== 1) {
    throw new DrillUsageError(
      parsed.positionals.length
        ? `one scenario, please; got ${parsed.positionals.join(' ')}`
        : 'which scenario?',
    );
  }
  const scenario = parsed.positionals[0];
  if (!(SCENARIO_NAMES as readonly string[]).includes(scenario)) {
    throw new DrillUsageError(`unknown scenario "${scenario}"; choose ${SCENARIO_NAMES.join(', ')}`);
  }
  if (v.profile !== undefined && !isProfileName(v.profile)) {
    throw new DrillUsageError(`--profile must be one of ${PROFILE_NAMES.join(', ')}; got "${v.profile}".`);
  }
  const executor = v.executor ?? 'ramping-vus';
  if (executor !== 'ramping-vus' && executor !== 'ramping-arrival-rate') {
    throw new DrillUsageError(`--executor must be ramping-vus or ramping-arrival-rate; got "${executor}".`);
  }
  const openOnly = ['rate', 'max-vus', 'pre-allocated-vus'] as const;
  if (executor === 'ramping-vus') {
    for (const f of openOnly) {
      if (v[f] !== undefined)
        throw new DrillUsageError(`--${f} applies to --executor ramping-arrival-rate only.`);
    }
  } else if (v['think-time'] !== undefined) {
    throw new DrillUsageError(
      '--think-time applies to the closed model (ramping-vus) only: open-model iterations start on the clock.',
    );
  }
  const profile = resolveProfile({
    profile: v.profile !== undefined && isProfileName(v.profile) ? v.profile : undefined,
    defaultProfile: SCENARIO_DEFAULT_PROFILES[scenario as ScenarioName],
    vus: int('vus', v.vus, 1, 100_000),
    durationMs: v.duration === undefined ? undefined : parseDuration(v.duration, '--duration'),
    scale: num('scale', v.scale, 0.001, 1_000) ?? 1,
  });
  const thresholds = v.threshold?.length ? v.threshold.map(parseThreshold) : null;
  const target = parseUrl('target', v.target, ['http:', 'https:']);
  const adminToken = v['admin-token'] ?? env.STAMPEDE_ADMIN_TOKEN ?? env.ADMIN_TOKEN;
  const adminTokenSource =
    v['admin-token'] !== undefined
      ? '--admin-token'
      : env.STAMPEDE_ADMIN_TOKEN !== undefined
        ? '$STAMPEDE_ADMIN_TOKEN'
        : '$ADMIN_TOKEN';
  if (target && !adminToken) {
    throw new DrillUsageError(
      `--target needs the server's admin token: --admin-token T (or $STAMPEDE_ADMIN_TOKEN); ${ADMIN_TOKEN_HINT}`,
    );
  }
  if (v.cleanup && !target) {
    throw new DrillUsageError(
      '--cleanup needs --target: the embedded server the drill starts is thrown away with its data at the end of the run.',
    );
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/Z$/, '');
  return {
    help: false,
    options: {
      scenario: scenario as ScenarioName,
      profile,
      executor,
      rate: num('rate', v.rate, 0.001, 1_000_000),
      maxVUs: int('max-vus', v['max-vus'], 1, 100_000),
      preAllocatedVUs: int('pre-allocated-vus', v['pre-allocated-vus'], 0, 100_000),
      target,
      adminToken: target ? adminToken : undefined,
      adminTokenSource: target ? adminTokenSource : undefined,
      databaseUrl: parseUrl('database-url', v['database-url'], ['postgres:', 'postgresql:']),
      outDir: path.resolve(v.out ?? path.join('drill-out', `${scenario}-${stamp}`)),
      thresholds,
      thinkTime: v['think-time'] === undefined ? undefined : parseThinkTime(v['think-time']),
      timeoutMs: v.timeout === undefined ? 10_000 : parseDuration(v.timeout, '--timeout'),
      gracefulStopMs:
        v['graceful-stop'] === undefined ? 10_000 : parseDuration(v['graceful-stop'], '--graceful-stop'),
      seed: int('seed', v.seed, 0, 2 ** 32 - 1) ?? 1,
      quiet: v.quiet ?? false,
      cleanup: v.cleanup ?? false,
      params: {
        users: int('users', v.users, 1, 10_000_000),
        quantity: int('quantity', v.quantity, 1, 10_000_000),
        retryShare: num('retry-share', v['retry-share'], 0, 1),
        products: int('products', v.products, 1, 100_000),
        stock: int('stock', v.stock, 0, 10_000_000),
        abandonShare: num('abandon-share', v['abandon-share'], 0, 1),
        schedules: int('schedules', v.schedules, 1, 100),
        seats: int('seats', v.seats, 1, 1_000),
      },
    },
  };
}

function parse(argv: readonly string[]) {
  const str = { type: 'string' } as const;
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      quiet: { type: 'boolean' },
      cleanup: { type: 'boolean' },
      profile: str,
      target: str,
      'admin-token': str,
      'database-url': str,
      out: str,
      vus: str,
      duration: str,
      scale: str,
      threshold: { type: 'string', multiple: true },
      executor: str,
      rate: str,
      'max-vus': str,
      'pre-allocated-vus': str,
      'think-time': str,
      timeout: str,
      'graceful-stop': str,
      seed: str,
      users: str,
      quantity: str,
      'retry-share': str,
      products: str,
      stock: str,
      'abandon-share': str,
      schedules: str,
      seats: str,
    },
  });
}
