/**
 * The command line every benchmark understands. Numbers must be positive whole numbers; a mistake
 * is a BenchUsageError naming the flag. `--server-env A=1,B=2` is passed to the server under test.
 */
import { parseArgs } from 'node:util';
import { BenchUsageError } from './run.js';

export type Mode = 'bare' | 'embedded' | 'cluster';

export interface BenchOptions {
  help: boolean;
  connections: number;
  /** Seconds per measured run. */
  duration: number;
  /** Seconds of warm-up before measuring. */
  warmup: number;
  quick: boolean;
  modes: Set<Mode>;
  serverEnv: Record<string, string>;
  /** Run the server under test with `node --cpu-prof --cpu-prof-dir=<dir>`. */
  profileDir: string | undefined;
  jsonFile: string | undefined;
  /**
   * Project directory whose `dist/cli.js serve` is the server under test (default: this one), so
   * an older build (a `git worktree` of a baseline commit, built) runs under the same load tool.
   */
  serverRoot: string | undefined;
  /** Values of the benchmark's own numeric flags (`extra`), after their defaults. */
  extra: Record<string, number>;
}

export interface OptionDefaults {
  connections: number;
  duration: number;
  quickDuration: number;
  warmup: number;
  quickWarmup: number;
  /** Modes run without --modes; also the ones --modes may name. */
  modes: readonly Mode[];
  allowedModes: readonly Mode[];
  /** Extra numeric flags: name → [default, --quick default]. */
  extra?: Readonly<Record<string, readonly [number, number]>>;
}

export function positiveInt(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new BenchUsageError(`${flag} must be a positive whole number; got "${raw}"`);
  return n;
}

/** `A=1,B=2` → { A: '1', B: '2' }. */
export function parseEnvList(flag: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of raw.split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    if (i < 1) throw new BenchUsageError(`${flag}: expected NAME=value, got "${kv}"`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

export function parseBenchArgs(argv: readonly string[], d: OptionDefaults): BenchOptions {
  const extraNames = Object.keys(d.extra ?? {});
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        connections: { type: 'string' },
        duration: { type: 'string' },
        quick: { type: 'boolean', default: false },
        modes: { type: 'string' },
        'server-env': { type: 'string', default: '' },
        profile: { type: 'string' },
        json: { type: 'string' },
        'server-root': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
        ...Object.fromEntries(extraNames.map((n) => [n, { type: 'string' as const }])),
      },
    }));
  } catch (err) {
    throw new BenchUsageError(err instanceof Error ? err.message : String(err));
  }
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const quick = values.quick === true;
  const modes = new Set<Mode>();
  for (const m of (str('modes') ?? d.modes.join(',')).split(',').map((x) => x.trim())) {
    if (!(d.allowedModes as readonly string[]).includes(m))
      throw new BenchUsageError(`--modes: unknown mode "${m}" (known: ${d.allowedModes.join(', ')})`);
    modes.add(m as Mode);
  }
  const extra: Record<string, number> = {};
  for (const [n, [full, short]] of Object.entries(d.extra ?? {})) {
    const raw = str(n);
    extra[n] = raw === undefined ? (quick ? short : full) : positiveInt(`--${n}`, raw);
  }
  const connections = str('connections');
  const duration = str('duration');
  return {
    help: values.help === true,
    connections: connections === undefined ? d.connections : positiveInt('--connections', connections),
    duration:
      duration === undefined ? (quick ? d.quickDuration : d.duration) : positiveInt('--duration', duration),
    warmup: quick ? d.quickWarmup : d.warmup,
    quick,
    modes,
    serverEnv: parseEnvList('--server-env', str('server-env') ?? ''),
    profileDir: str('profile'),
    jsonFile: str('json'),
    serverRoot: str('server-root'),
    extra,
  };
}
