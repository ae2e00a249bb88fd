/**
 * `stampede serve`: first checks what it needs (DATA_DIR writable in embedded mode, the port free,
 * PostgreSQL and Redis reachable in cluster mode), then runtime + app + listen, and a graceful stop
 * on SIGINT/SIGTERM — readiness goes 503, in-flight requests finish, pending group commits flush,
 * connections close, the embedded PostgreSQL stops.
 *
 * A start-up failure with a known cause is a StartupError: one sentence naming the setting
 * involved, a hint with the next step, and an exit code. Anything else propagates unchanged.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import pg from 'pg';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { EmbeddedPostgresError } from './infra/postgres/embedded.js';
import { within } from './infra/timing.js';
import { createRuntime, type Runtime } from './runtime.js';

/** How long the start waits for the modules' background work to start before it says ready, ms. */
const START_WAIT_MS = 5_000;

export interface Server {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  stop(): Promise<void>;
}

/** Exit codes of StartupError (sysexits.h): a needed service or address is unavailable. */
export const EXIT_UNAVAILABLE = 69;
/** DATA_DIR cannot be written. */
export const EXIT_CANT_CREATE = 73;

/** A start-up failure with a known cause: `message` is one sentence, `hint` the next step. */
export class StartupError extends Error {
  override name = 'StartupError';
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `p` as `./relative` when it is under the working directory, else as given. */
export function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  if (rel === '') return '.';
  return rel.startsWith('..') || path.isAbsolute(rel) ? p : `./${rel}`;
}

/** A URL with its password replaced by `***`, for messages. */
function redact(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

interface SystemError {
  code?: string;
  message?: string;
  errors?: SystemError[];
}

/** An error's own words: its message, or (an AggregateError of each address tried) its first part's. */
function reason(err: unknown): string {
  const e = (err ?? {}) as SystemError;
  const text = e.message || e.errors?.[0]?.message || e.code || String(err);
  return text.replace(/\.$/, '');
}

function errorCode(err: unknown): string | undefined {
  const e = (err ?? {}) as SystemError;
  return e.code ?? e.errors?.[0]?.code;
}

/** The StartupError for a listen failure on HOST:PORT, or undefined when the cause is unknown. */
function listenFailure(err: unknown, host: string, port: number): StartupError | undefined {
  const code = errorCode(err);
  const other = port === 3000 ? 3001 : port + 1;
  if (code === 'EADDRINUSE')
    return new StartupError(
      `Port ${port} on ${host} is already in use (PORT=${port}, HOST=${host}).`,
      `Stop the program listening there, or pick another port: PORT=${other} npm start`,
      EXIT_UNAVAILABLE,
      { cause: err },
    );
  if (code === 'EACCES')
    return new StartupError(
      `This user may not listen on port ${port} (PORT=${port}); ports below 1024 need privileges.`,
      'Pick a port above 1023: PORT=3000 npm start',
      EXIT_UNAVAILABLE,
      { cause: err },
    );
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new StartupError(
      `HOST=${host} is not an address of this machine (${code}).`,
      'Use HOST=127.0.0.1 (this machine only) or HOST=0.0.0.0 (every interface).',
      EXIT_UNAVAILABLE,
      { cause: err },
    );
  return undefined;
}

function dataDirFailure(err: unknown, dataDir: string): StartupError {
  return new StartupError(
    `DATA_DIR ${displayPath(dataDir)} cannot be written (${reason(err)}).`,
    'Point DATA_DIR at a folder this user can write to (DATA_DIR=$HOME/stampede-data npm start) or fix its permissions.',
    EXIT_CANT_CREATE,
    { cause: err },
  );
}

/** An fs error about a path inside DATA_DIR (the admin token, the JWT secret, PostgreSQL's data). */
function isDataDirError(err: unknown, dataDir: string): boolean {
  const p = (err as { path?: unknown } | null)?.path;
  if (typeof p !== 'string') return false;
  const rel = path.relative(dataDir, p);
  return !rel.startsWith('..') && !path.isAbsolute(rel);
}

async function checkDataDir(dataDir: string): Promise<void> {
  try {
    mkdirSync(dataDir, { recursive: true });
    const probe = path.join(dataDir, `.write-check-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw dataDirFailure(err, dataDir);
  }
}

/**
 * Binds HOST:PORT once and lets go, so a taken port or a foreign HOST is reported before PostgreSQL
 * starts (PORT=0 checks HOST alone).
 */
async function checkPort(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err) => reject(listenFailure(err, host, port) ?? err));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

async function checkDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (err) {
    const code = errorCode(err);
    const where = `PostgreSQL at DATABASE_URL (${redact(url)})`;
    if (code === '28P01' || code === '28000')
      throw new StartupError(
        `${where} refused the login: ${reason(err)}.`,
        'Fix the user or password in DATABASE_URL.',
        EXIT_UNAVAILABLE,
        { cause: err },
      );
    if (code === '3D000')
      throw new StartupError(
        `${where} has no such database: ${reason(err)}.`,
        'Create it (createdb) or name an existing database in DATABASE_URL.',
        EXIT_UNAVAILABLE,
        { cause: err },
      );
    throw new StartupError(
      `Cannot reach ${where}: ${reason(err)}.`,
      'Start PostgreSQL or fix DATABASE_URL; or unset DATABASE_URL and REDIS_URL to run in embedded mode, which brings its own PostgreSQL.',
      EXIT_UNAVAILABLE,
      { cause: err },
    );
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkRedis(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // connect() rejects with "Connection is closed"; the cause (ECONNREFUSED, ...) is an 'error' event.
  let cause: unknown;
  redis.on('error', (err) => {
    cause ??= err;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (thrown) {
    const err = cause ?? thrown;
    const where = `Redis at REDIS_URL (${redact(url)})`;
    if (/NOAUTH|WRONGPASS|invalid password/i.test(reason(err)))
      throw new StartupError(
        `${where} refused the login: ${reason(err)}.`,
        'Fix the user or password in REDIS_URL.',
        EXIT_UNAVAILABLE,
        { cause: err },
      );
    throw new StartupError(
      `Cannot reach ${where}: ${reason(err)}.`,
      'Start Redis or fix REDIS_URL; or unset DATABASE_URL and REDIS_URL to run in embedded mode, which needs no Redis.',
      EXIT_UNAVAILABLE,
      { cause: err },
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * What `serve` and `worker` need before they start anything, checked in this order: DATA_DIR
 * writable (embedded mode), HOST:PORT free (`listens`), PostgreSQL then Redis answering (cluster
 * mode). Throws the StartupError of the first that fails.
 */
export async function checkStartup(config: Config, { listens }: { listens: boolean }): Promise<void> {
  if (config.mode === 'embedded') await checkDataDir(config.dataDir);
  if (listens) await checkPort(config.host, config.port);
  if (config.mode === 'cluster' && config.databaseUrl) await checkDatabase(config.databaseUrl);
  if (config.redisUrl) await checkRedis(config.redisUrl);
}

/** The StartupError for a failure of createRuntime, or the error itself when its cause is unknown. */
export function explainRuntimeFailure(err: unknown, config: Config): unknown {
  if (err instanceof EmbeddedPostgresError) {
    const log = err.logFile ? `its log is ${displayPath(err.logFile)}` : 'its output is above';
    const asRoot =
      process.getuid?.() === 0 && /permission denied/i.test(err.lastLine)
        ? "\nRun as root, PostgreSQL runs as the system user 'postgres', which must be able to enter every folder above DATA_DIR (chmod o+x them, or pick a DATA_DIR outside /root)."
        : '';
    return new StartupError(
      `The embedded PostgreSQL under DATA_DIR (${displayPath(config.dataDir)}) did not start; ${log}.`,
      `Its last line: ${err.lastLine}${asRoot}\nIf DATA_DIR holds nothing you need, start over: rm -rf ${displayPath(config.dataDir)} && npm start`,
      EXIT_UNAVAILABLE,
      { cause: err },
    );
  }
  if (config.mode === 'embedded' && isDataDirError(err, config.dataDir))
    return dataDirFailure(err, config.dataDir);
  return err;
}

/** Checks (checkStartup), then the runtime, the app and listen; stops what it started if listen fails. */
export async function startServer(config: Config, log?: FastifyBaseLogger): Promise<Server> {
  await checkStartup(config, { listens: true });
  let runtime: Runtime;
  try {
    runtime = await createRuntime(config, log);
  } catch (err) {
    throw explainRuntimeFailure(err, config);
  }
  let app: FastifyInstance | undefined;
  try {
    app = await buildApp(runtime, runtime.log);
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await app?.close().catch(() => {});
    await runtime.close().catch(() => {});
    throw listenFailure(err, config.host, config.port) ?? err;
  }
  const started = app;
  const addr = started.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // Ready once every module's background work has started (the admissions channel subscribed, the
  // admitter and relays running), or after START_WAIT_MS whatever a slow dependency is doing.
  await within(runtime.startBackground(), START_WAIT_MS);
  runtime.lifecycle.state = 'ready';
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      runtime.lifecycle.state = 'draining';
      await started.close();
      await runtime.close();
    })();
    return stopping;
  };
  return { app: started, runtime, url, stop };
}

/**
 * The human start banner on stdout. `quietLogs`: the logger was set to warn because stdout is a
 * terminal and LOG_LEVEL was not set, and the banner says so.
 */
export function printBanner(server: Server, config: Config, { quietLogs = false } = {}): void {
  const lines = [
    '',
    `  stampede is serving in ${config.mode} mode`,
    `  API        ${server.url}/api/v1`,
    `  docs       ${server.url}/docs`,
    `  dashboard  ${server.url}/dashboard  (live operations; asks for the admin token)`,
    `  metrics    ${server.url}/metrics`,
    `  health     ${server.url}/healthz  ${server.url}/readyz`,
  ];
  lines.push(`  admin      Authorization: Bearer ${server.runtime.adminToken}`);
  if (server.runtime.adminTokenFile)
    lines.push(`             (also in ${displayPath(server.runtime.adminTokenFile)})`);
  if (config.mode === 'embedded') {
    lines.push(`  data       ${displayPath(config.dataDir)}`);
    lines.push('  demo data  npm run demo (in another terminal, in this folder)');
  }
  if (quietLogs)
    lines.push('  logs       warnings and errors only (LOG_LEVEL=info npm start for every request)');
  lines.push('  Ctrl-C stops it cleanly.', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}
