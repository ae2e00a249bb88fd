/**
 * What the drill runs against. Either a running stampede (--target URL + admin token), or — by
 * default — an embedded server the drill starts for itself as a SEPARATE process
 * (`node dist/cli.js serve` with PORT=<free port>, DATA_DIR=<throwaway temp dir>), so the server
 * and the load generator never share an event loop. Readiness is polled on /readyz; the admin
 * token is read from DATA_DIR/admin-token. stop() sends SIGINT (the server drains and stops its
 * PostgreSQL), waits, escalates to SIGKILL after 30 s, then removes the temp dir.
 * In embedded mode the drill also knows the server's PostgreSQL (DATA_DIR/pg-password and the
 * port in DATA_DIR/pg/postmaster.pid), so the audit can read the database directly.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from '../infra/net.js';
import { DrillRunError } from './errors.js';

export interface Target {
  baseUrl: string;
  adminToken: string;
  embedded: boolean;
  /** Direct PostgreSQL access for the audit, when known. */
  databaseUrl?: string;
  /** Embedded mode: the server's stdout+stderr. */
  serverLog?: string;
  stop(): Promise<void>;
}

/** GET /readyz answers 200 within `timeoutMs`? */
async function ready(baseUrl: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await request(`${baseUrl}/readyz`, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

export async function externalTarget(
  baseUrl: string,
  adminToken: string,
  databaseUrl?: string,
): Promise<Target> {
  const url = baseUrl.replace(/\/+$/, '');
  // A target under load (or a machine shared with the drill) may be slow to answer once: try for ~15 s.
  let ok = false;
  for (let attempt = 0; attempt < 5 && !ok; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 500 * attempt));
    ok = await ready(url, 3_000);
  }
  if (!ok) {
    throw new DrillRunError(`${url}/readyz did not answer 200; is the server running and ready?`);
  }
  return { baseUrl: url, adminToken, embedded: false, databaseUrl, stop: async () => {} };
}

/** dist/cli.js, whether this module runs compiled (dist/drill) or from source (src/drill, tests). */
export function serverEntry(): string {
  const candidates = [new URL('../cli.js', import.meta.url), new URL('../../dist/cli.js', import.meta.url)];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new DrillRunError('dist/cli.js not found: run `npm run build` first.');
}

/** Variables that would point the embedded server elsewhere; everything else is passed through. */
const STRIPPED_ENV = [
  'DATABASE_URL',
  'REDIS_URL',
  'ADMIN_TOKEN',
  'JWT_SECRET',
  'PORT',
  'HOST',
  'DATA_DIR',
  'REDIS_PREFIX',
];

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no server log)';
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startEmbeddedTarget(logFile: string, startTimeoutMs = 120_000): Promise<Target> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stampede-drill-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of STRIPPED_ENV) delete env[k];
  Object.assign(env, {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
  });
  const fd = openSync(logFile, 'a');
  // detached: its own process group, so a Ctrl-C in the terminal reaches the drill only; the
  // drill audits first and then stops the server itself.
  const child = spawn(process.execPath, [serverEntry(), 'serve'], {
    env,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  const lastResort = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  process.on('exit', lastResort);
  const baseUrl = `http://127.0.0.1:${port}`;

  let stopped: Promise<void> | null = null;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        let timer: NodeJS.Timeout | undefined;
        const gone = await Promise.race([
          exited(child).then(() => true),
          new Promise<false>((r) => {
            timer = setTimeout(() => r(false), 30_000);
          }),
        ]);
        clearTimeout(timer);
        if (!gone) {
          child.kill('SIGKILL');
          await exited(child);
        }
      }
      process.off('exit', lastResort);
      rmSync(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new DrillRunError(
        `the embedded server exited during start (code ${child.exitCode}):\n${tail(logFile)}`,
      );
    }
    if (await ready(baseUrl, 1_000)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new DrillRunError(
        `the embedded server was not ready within ${startTimeoutMs / 1_000} s:\n${tail(logFile)}`,
      );
    }
    await sleepMs(100);
  }
  const adminToken = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    baseUrl,
    adminToken,
    embedded: true,
    databaseUrl: embeddedDatabaseUrl(dataDir),
    serverLog: logFile,
    stop,
  };
}

/** The embedded PostgreSQL's URL, from files the server keeps in DATA_DIR; undefined if unreadable. */
function embeddedDatabaseUrl(dataDir: string): string | undefined {
  try {
    const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    // postmaster.pid line 4 is the port PostgreSQL listens on.
    const port = Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[3]);
    if (!Number.isInteger(port) || port <= 0) return undefined;
    return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  } catch {
    return undefined;
  }
}
