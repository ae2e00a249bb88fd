/**
 * The servers a benchmark measures, all started by the drill's spawner in their own process group
 * (Ctrl-C reaches the benchmark, which stops them; a benchmark that dies takes their groups with
 * it) and stopped by the benchmark's cleanups:
 *   bare      bench/bare-server.mjs, a Fastify server with only the routes the baselines need
 *   embedded  `node dist/cli.js serve` with a throwaway DATA_DIR (embedded PostgreSQL, memory gate)
 *   cluster   the same with a fresh database on the local PostgreSQL (dropped afterwards) and a
 *             random Redis key prefix (its keys deleted afterwards)
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { ApiClient } from '../../src/drill/api-client.js';
import { withDatabase } from '../../src/drill/audit-queries.js';
import { projectRoot, type ServerProcess, spawnServer, TARGETING_ENV } from '../../src/drill/process.js';
import type { Cleanups } from './run.js';
import { log } from './run.js';

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface BenchServer {
  server: ServerProcess;
  /** Stops it now (graceful, then SIGKILL of its group) instead of at the end. */
  stop(): Promise<void>;
}

/** bench/bare-server.mjs (or another bare script of bench/) on a free port, ready on /readyz. */
export async function startBareServer(cleanups: Cleanups, script = 'bare-server.mjs'): Promise<BenchServer> {
  const server = await spawnServer({
    name: script === 'bare-server.mjs' ? 'bare server' : `bare server (${script})`,
    command: [path.join(projectRoot(), 'bench', script)],
    detached: true,
    signalOnExit: 'SIGKILL',
    readyTimeoutMs: 30_000,
  });
  const stop = cleanups.add('stop bare server', async () => {
    await server.stop();
  });
  return { server, stop };
}

export interface ServerUnderTest extends BenchServer {
  mode: 'embedded' | 'cluster';
  adminToken: string;
  databaseUrl: string;
  /** Embedded: the postmaster's pid; cluster: our database's name (for the CPU split). */
  pgRoot?: number;
  pgDb?: string;
}

/** A cluster's database and Redis prefix, as the environment of its servers. */
interface ScratchCluster {
  env: Record<string, string>;
  dbName: string;
}

/**
 * Creates a database on PG_ADMIN_URL and a Redis prefix for one cluster-mode server; both are
 * removed by the cleanups. Returns the server's environment.
 */
async function scratchCluster(cleanups: Cleanups): Promise<ScratchCluster> {
  const tag = randomBytes(4).toString('hex');
  const dbName = `stampede_bench_${tag}`;
  const prefix = `bench-${tag}:`;
  await withDatabase(PG_ADMIN_URL, (db) => db.query(`CREATE DATABASE ${dbName}`));
  cleanups.add(`drop database ${dbName}`, async () => {
    await withDatabase(PG_ADMIN_URL, (db) => db.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
    log(`dropped database ${dbName}`);
  });
  cleanups.add(`delete redis keys ${prefix}*`, async () => {
    const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
    let deleted = 0;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await r.unlink(...keys);
      } while (cursor !== '0');
    } finally {
      r.disconnect();
    }
    log(`deleted ${deleted} redis keys under ${prefix}`);
  });
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${dbName}`;
  return {
    dbName,
    env: {
      DATABASE_URL: u.toString(),
      REDIS_URL,
      REDIS_PREFIX: prefix,
      ADMIN_TOKEN: `stampede_admin_${randomBytes(24).toString('base64url')}`,
      JWT_SECRET: randomBytes(48).toString('base64url'),
    },
  };
}

export interface ServerUnderTestOptions {
  serverEnv: Record<string, string>;
  profileDir?: string;
  /** Project directory whose built `dist/cli.js` runs (a baseline worktree); default this project. */
  serverRoot?: string;
}

/**
 * `node [--cpu-prof] <root>/dist/cli.js serve` in `mode`, with LOG_LEVEL=warn and `serverEnv` on
 * top; ready within 180 s. A cluster-mode server gets a scratch database and Redis prefix of its
 * own, or `shared.cluster`'s (another process of the same cluster); `shared.label` names it in logs.
 */
export async function startServerUnderTest(
  mode: 'embedded' | 'cluster',
  cleanups: Cleanups,
  { serverEnv, profileDir, serverRoot }: ServerUnderTestOptions,
  shared: { cluster?: ScratchCluster; label?: string } = {},
): Promise<ServerUnderTest> {
  const cluster = mode === 'cluster' ? (shared.cluster ?? (await scratchCluster(cleanups))) : undefined;
  const label = shared.label ?? mode;
  log(`${label}: starting the server`);
  const server = await spawnServer({
    name: `${label} server`,
    nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [],
    ...(serverRoot
      ? {
          command: [path.join(path.resolve(serverRoot), 'dist', 'cli.js'), 'serve'],
          cwd: path.resolve(serverRoot),
        }
      : {}),
    stripEnv: TARGETING_ENV,
    // Every request still goes through the rate limiter (its cost is measured), with budgets out of
    // reach of one load generator on loopback.
    env: {
      ...cluster?.env,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_USER_PER_MINUTE: '1000000000',
      RATE_LIMIT_IP_PER_MINUTE: '1000000000',
      ...serverEnv,
    },
    tempDataDir: cluster ? undefined : 'stampede-bench-',
    detached: true,
    signalOnExit: 'SIGKILL',
    readyTimeoutMs: 180_000,
  });
  const stop = cleanups.add(`stop ${label} server`, async () => {
    const exit = await server.stop();
    if (exit.code !== 0) log(`${label} server exited with ${exit.code ?? exit.signal}:\n  ${server.tail()}`);
  });
  if (!server.adminToken || !server.databaseUrl) {
    await stop();
    throw new Error(`${label} server is ready but its admin token or database is unknown`);
  }
  return {
    mode,
    server,
    stop,
    adminToken: server.adminToken,
    databaseUrl: server.databaseUrl,
    pgRoot: server.postgresPid,
    pgDb: cluster?.dbName,
  };
}

/**
 * Runs `fn` against a fresh server under test and its admin API client, then closes the client
 * and stops the server, whether `fn` succeeded or not.
 */
export async function withServerUnderTest<T>(
  mode: 'embedded' | 'cluster',
  cleanups: Cleanups,
  opts: ServerUnderTestOptions,
  apiConnections: number,
  fn: (sut: ServerUnderTest, api: ApiClient) => Promise<T>,
): Promise<T> {
  const sut = await startServerUnderTest(mode, cleanups, opts);
  const api = new ApiClient(sut.server.url, apiConnections, 120_000);
  try {
    return await fn(sut, api);
  } finally {
    await api.close();
    await sut.stop();
  }
}

/**
 * Two cluster-mode servers on one scratch database and one Redis prefix (the same admin token and
 * JWT secret, so a user's token is good on both), started one after the other; `fn` runs against
 * both and an admin API client of the first, then both stop, whether `fn` succeeded or not.
 */
export async function withServerPairUnderTest<T>(
  cleanups: Cleanups,
  opts: ServerUnderTestOptions,
  apiConnections: number,
  fn: (pair: readonly [ServerUnderTest, ServerUnderTest], api: ApiClient) => Promise<T>,
): Promise<T> {
  const cluster = await scratchCluster(cleanups);
  const a = await startServerUnderTest('cluster', cleanups, opts, { cluster, label: 'cluster A' });
  let b: ServerUnderTest | undefined;
  const api = new ApiClient(a.server.url, apiConnections, 120_000);
  try {
    b = await startServerUnderTest('cluster', cleanups, opts, { cluster, label: 'cluster B' });
    return await fn([a, b], api);
  } finally {
    await api.close();
    await b?.stop();
    await a.stop();
  }
}
