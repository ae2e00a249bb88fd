/**
 * The one way this project runs a server as a child process: the drill's embedded target, the
 * tests' multi-process and kill -9 cases, and the benchmarks all start their servers here.
 *
 * The child is `node [nodeArgs] <command>` (default `dist/cli.js serve`) listening on 127.0.0.1 at
 * PORT (a free port unless given). Its mode follows its environment, as the server's own does:
 * DATA_DIR alone is embedded mode (PostgreSQL under DATA_DIR), DATABASE_URL + REDIS_URL is cluster
 * mode. What the server keeps in DATA_DIR (admin token, embedded PostgreSQL's password and port) is
 * read back once it is ready.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { freePort } from './net.js';
import { settlesWithin } from './wait.js';

/**
 * Variables that point a server at its data and its address. A server meant to be self-contained
 * (the drill's own, a benchmark's) is started with these removed from the inherited environment.
 */
export const TARGETING_ENV: readonly string[] = [
  'DATABASE_URL',
  'REDIS_URL',
  'ADMIN_TOKEN',
  'JWT_SECRET',
  'PORT',
  'HOST',
  'DATA_DIR',
  'REDIS_PREFIX',
];

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnServerOptions {
  /** How errors and logs name it ("the embedded server", "bare server"); default "server". */
  name?: string;
  /** Script and arguments after `node [nodeArgs]`; default `<project>/dist/cli.js serve`. */
  command?: readonly string[];
  /** Node flags before the script, e.g. `--cpu-prof`. */
  nodeArgs?: readonly string[];
  /** Set over the inherited environment; `undefined` removes a variable. PORT and HOST are always set here. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Inherited variables removed before `env` applies (those that would point the server elsewhere). */
  stripEnv?: readonly string[];
  /** Default: a free port on 127.0.0.1. */
  port?: number;
  /** Creates DATA_DIR as a fresh directory with this prefix in the OS temp dir; stop() removes it. */
  tempDataDir?: string;
  /** Polled until it answers 200; default `/readyz`. */
  readyPath?: string;
  /** Default 60 s. */
  readyTimeoutMs?: number;
  /** stdout+stderr appended to this file, straight from the child; default: kept in memory. */
  logFile?: string;
  /** In-memory output keeps at least the last this many characters; default 1,000,000. */
  maxOutputChars?: number;
  /**
   * Own process group: a terminal's Ctrl-C reaches only this process, and a SIGKILL sent by stop()
   * or at this process's exit takes the whole group (an embedded PostgreSQL with it).
   */
  detached?: boolean;
  /** How long stop() waits after its signal before SIGKILL; default 30 s. */
  stopGraceMs?: number;
  /** Sent to a server still running when this process exits; default SIGTERM, null for none. */
  signalOnExit?: NodeJS.Signals | null;
  /** Default: this process's working directory. */
  cwd?: string;
}

export interface ServerProcess {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Date.now() right before the spawn (CPU profiles count from the process start). */
  readonly spawnedAt: number;
  /** DATA_DIR the server was given, if any. */
  readonly dataDir: string | undefined;
  /** ADMIN_TOKEN it was given, else the one it generated in DATA_DIR/admin-token. */
  readonly adminToken: string | undefined;
  /** DATABASE_URL it was given, else its embedded PostgreSQL's (from DATA_DIR). */
  readonly databaseUrl: string | undefined;
  /** The embedded PostgreSQL's postmaster pid (DATA_DIR/pg/postmaster.pid), when embedded. */
  readonly postgresPid: number | undefined;
  /** Resolves once the process has exited, with its code or signal. */
  readonly exited: Promise<ProcessExit>;
  running(): boolean;
  /** Everything it wrote to stdout and stderr so far (from logFile when given; bounded in memory). */
  output(): string;
  /** The last `lines` non-empty lines of output(). */
  tail(lines?: number): string;
  /** Sends `signal` (default SIGTERM) to the server process alone; resolves when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<ProcessExit>;
  /**
   * Graceful stop: `signal` (default SIGTERM; the server drains, flushes its commits and stops its
   * PostgreSQL), SIGKILL after stopGraceMs, then removes a tempDataDir. Later calls share the first.
   */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/** The server did not become ready; `output` is the tail of what it wrote. */
export class ServerStartError extends Error {
  constructor(
    readonly what: string,
    readonly output: string,
    name = 'server',
  ) {
    super(output ? `${name} ${what}:\n${output}` : `${name} ${what}`);
    this.name = 'ServerStartError';
  }
}

/** The nearest directory above `from` (default: this module's) that holds a package.json. */
export function projectRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** `<project>/dist/cli.js`, whether this module runs from dist/, from source, or in a bench build. */
export function serverEntry(): string {
  return path.join(projectRoot(), 'dist', 'cli.js');
}

/** DATA_DIR/admin-token, trimmed; undefined when absent. */
export function readAdminToken(dataDir: string): string | undefined {
  try {
    return readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface EmbeddedPostgres {
  url: string;
  port: number;
  /** The postmaster's pid. */
  pid: number;
}

/** The embedded PostgreSQL the server runs under DATA_DIR; undefined when it is not running there. */
export function embeddedPostgres(dataDir: string): EmbeddedPostgres | undefined {
  try {
    const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    // postmaster.pid: line 1 is the postmaster's pid, line 4 the port it listens on.
    const lines = readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n');
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (!Number.isInteger(port) || port <= 0 || !Number.isInteger(pid) || pid <= 0) return undefined;
    return {
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      port,
      pid,
    };
  } catch {
    return undefined;
  }
}

/** GET `url` answered 200 within `timeoutMs`; never throws. */
export async function answers200(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    await res.body.dump();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

// One 'exit' listener for every live server, however many a process starts.
const live = new Set<() => void>();
process.on('exit', () => {
  for (const onExit of live) onExit();
});

function describeExit(e: ProcessExit): string {
  return e.code !== null ? `code ${e.code}` : `signal ${e.signal}`;
}

/**
 * Starts a server and resolves once GET readyPath answered 200. If it exits first or the deadline
 * passes, it is stopped (tempDataDir removed) and ServerStartError carries the tail of its output.
 */
export async function spawnServer(opts: SpawnServerOptions = {}): Promise<ServerProcess> {
  const name = opts.name ?? 'server';
  const command = opts.command ?? [serverEntry(), 'serve'];
  if (!opts.command && !existsSync(command[0]))
    throw new ServerStartError(
      `cannot start: ${command[0]} is missing; run \`npm run build\` first`,
      '',
      name,
    );
  const port = opts.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of opts.stripEnv ?? []) delete env[k];
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const tempDir = opts.tempDataDir ? mkdtempSync(path.join(os.tmpdir(), opts.tempDataDir)) : undefined;
  if (tempDir) env.DATA_DIR = tempDir;
  env.PORT = String(port);
  env.HOST = '127.0.0.1';
  const dataDir = env.DATA_DIR || undefined;

  const maxChars = opts.maxOutputChars ?? 1_000_000;
  let captured = '';
  let fd: number | undefined;
  if (opts.logFile) fd = openSync(opts.logFile, 'a');
  const spawnedAt = Date.now();
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...command], {
      cwd: opts.cwd,
      env,
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
      detached: opts.detached ?? false,
    });
  } catch (err) {
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const keep = (chunk: Buffer) => {
    captured += chunk.toString();
    if (captured.length > 2 * maxChars) captured = captured.slice(-maxChars);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exit: ProcessExit | null = null;
  const exited = new Promise<ProcessExit>((resolve) => {
    const done = (e: ProcessExit) => {
      exit ??= e;
      resolve(exit);
    };
    child.once('exit', (code, signal) => done({ code, signal }));
    // A spawn that fails (no 'exit' follows) still ends.
    child.once('error', (err) => {
      keep(Buffer.from(`\nspawn error: ${err.message}\n`));
      if (child.pid === undefined) done({ code: null, signal: null });
    });
  });
  const running = () => exit === null && child.exitCode === null && child.signalCode === null;
  /** `group`: a detached server's SIGKILL takes its process group (an orphaned PostgreSQL would outlive it). */
  const send = (signal: NodeJS.Signals, group = signal === 'SIGKILL') => {
    if (!running()) return;
    try {
      if (group && opts.detached && child.pid) process.kill(-child.pid, signal);
      else child.kill(signal);
    } catch {
      // Gone in the meantime.
    }
  };
  const signalOnExit = opts.signalOnExit === undefined ? 'SIGTERM' : opts.signalOnExit;
  const onParentExit = () => {
    if (signalOnExit) send(signalOnExit);
  };
  live.add(onParentExit);
  void exited.then(() => live.delete(onParentExit));

  const output = () => {
    if (!opts.logFile) return captured.length > maxChars ? captured.slice(-maxChars) : captured;
    try {
      return readFileSync(opts.logFile, 'utf8').slice(-maxChars);
    } catch {
      return '';
    }
  };
  const tail = (lines = 40) =>
    output()
      .split('\n')
      .filter((l) => l.trim())
      .slice(-lines)
      .join('\n') || '(no output)';

  let stopping: Promise<ProcessExit> | null = null;
  const stop = (signal: NodeJS.Signals = 'SIGTERM') => {
    stopping ??= (async () => {
      if (running()) {
        send(signal);
        if (!(await settlesWithin(exited, opts.stopGraceMs ?? 30_000))) send('SIGKILL');
      }
      const e = await exited;
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      return e;
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const readyUrl = `${url}${opts.readyPath ?? '/readyz'}`;
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!running()) {
      const e = await exited;
      await stop();
      throw new ServerStartError(`exited during start (${describeExit(e)})`, tail(), name);
    }
    if (await answers200(readyUrl, 2_000)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new ServerStartError(`was not ready within ${timeoutMs / 1_000} s`, tail(), name);
    }
    await sleepMs(100);
  }

  const pg = dataDir ? embeddedPostgres(dataDir) : undefined;
  return {
    url,
    port,
    pid: child.pid ?? -1,
    child,
    spawnedAt,
    dataDir,
    adminToken: env.ADMIN_TOKEN || (dataDir ? readAdminToken(dataDir) : undefined),
    databaseUrl: env.DATABASE_URL || pg?.url,
    postgresPid: pg?.pid,
    exited,
    running,
    output,
    tail,
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      send(signal, false);
      return exited;
    },
    stop,
  };
}
