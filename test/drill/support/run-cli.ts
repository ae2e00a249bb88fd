/**
 * Runs `node dist/cli.js drill ...` as a child process (the real CLI, real exit codes) and reads
 * the summary.json it wrote. `npm test` builds dist/ first; in your own iterations run
 * `npm run build` before `npx vitest run test/drill`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DrillSummary } from '../../../src/drill/summary.js';

export const CLI = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  outDir: string;
  summary: DrillSummary | null;
}

const created: string[] = [];

export function tempOut(prefix = 'drill-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Removes the output directories this file's runs created (kept with KEEP_DRILL_OUT=1). */
export function removeOutDirs(): void {
  if (process.env.KEEP_DRILL_OUT === '1') return;
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function runDrillCli(
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  const outDir = args.includes('--out') ? args[args.indexOf('--out') + 1] : tempOut();
  const full = args.includes('--out') ? args : [...args, '--out', outDir];
  const child = spawn(process.execPath, [CLI, 'drill', ...full], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const file = path.join(outDir, 'summary.json');
  const summary = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as DrillSummary) : null;
  return { code, stdout, stderr, outDir, summary };
}

/** The names of the audit checks that failed. */
export function failedChecks(run: CliRun): string[] {
  return (run.summary?.audit.checks ?? []).filter((c) => !c.ok).map((c) => c.name);
}

/**
 * Thresholds for tests that must pass on a shared, busy 2-core machine: correctness thresholds as
 * strict as the defaults, latency generous (the defaults' latency limits are for real drills).
 */
export const LENIENT_THRESHOLDS = [
  '--threshold',
  'http_req_failed: rate<0.01',
  '--threshold',
  'checks: rate==1',
  '--threshold',
  'http_req_duration: p(95)<5000',
];

/**
 * The exit code a run must end with: `whenValid` if the load generator was valid; 97 if it was
 * saturated — other processes on a shared test machine can starve the drill, and the drill is
 * right to call such a run INVALID — unless the audit failed (98 outranks both).
 */
export function expectedExit(run: CliRun, whenValid: number): number {
  const s = run.summary;
  if (s?.audit.verdict !== 'PASS' || s.generator.valid) return whenValid;
  console.warn(
    `!!! drill run in ${run.outDir} was INVALID (${s.generator.reasons.join('; ')}): expecting exit 97`,
  );
  return 97;
}
