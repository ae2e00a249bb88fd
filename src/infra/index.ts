/**
 * The infrastructure one process runs on, created once by the composition root and handed to
 * modules piece by piece: each module names the items it uses (see src/kernel/module.ts) and
 * receives only those. Connections are factories (`postgres()`, `redis()`, `redisSubscriber()`), so
 * a module that never asks for a subscriber never opens one, and the Redis client's shape
 * (one server today, ioredis Cluster later) is decided here without touching any module.
 *
 * Lifecycle: embedded PostgreSQL (embedded mode) → migrations → pool → Redis (cluster mode).
 * `close()` undoes it in reverse, after every module has closed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../config.js';
import { type Admissions, createAdmissions } from './admission/index.js';
import { Breaker } from './breaker.js';
import { type Commits, createCommits } from './commits.js';
import { type Locks, processLocks, redisLocks } from './locks.js';
import { Metrics } from './metrics.js';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './postgres/embedded.js';
import { migrate } from './postgres/migrate.js';
import { createPool, isPostgresUnavailable, type Pool } from './postgres/pool.js';
import { memoryPubSub, type PubSub, redisPubSub } from './pubsub.js';
import {
  createRedis,
  createRedisSubscriber,
  type RedisClient,
  type RedisSubscriber,
} from './redis/client.js';
import { createKeys, type Keys } from './redis/keys.js';
import { Auth } from './tokens.js';
import { noopTracer, otelTracer, type Tracer } from './tracing.js';

export interface Infra {
  config: Config;
  log: FastifyBaseLogger;
  metrics: Metrics;
  tracer: Tracer;
  /** The process's PostgreSQL pool. */
  postgres: () => Pool;
  /** The Redis command client (scripts loaded), or null in embedded mode. */
  redis: () => RedisClient | null;
  /** A Redis connection for SUBSCRIBE, opened on first call; null in embedded mode. */
  redisSubscriber: () => RedisSubscriber | null;
  /** Messages between this deployment's processes (in-process in embedded mode); see pubsub.ts. */
  pubsub: () => PubSub;
  keys: Keys;
  /** Signs and verifies user tokens, recognises the admin token. */
  tokens: Auth;
  commits: Commits;
  admissions: Admissions;
  locks: Locks;
}

export type InfraName = keyof Infra;

export interface InfraCheck {
  status: 'up' | 'down';
  detail?: string;
}

export interface RunningInfra {
  infra: Infra;
  /** The admin token in force (generated once in embedded mode). */
  adminToken: string;
  /** Where embedded mode keeps the admin token, for the start banner. */
  adminTokenFile?: string;
  /** PostgreSQL and (cluster mode) Redis reachability, for /readyz. */
  checks(): Promise<Record<string, InfraCheck>>;
  close(): Promise<void>;
}

/**
 * Reads DATA_DIR/<file>, creating it with a fresh random secret the first time. The prefix keeps a
 * token from starting with '-' (base64url may), which command-line parsers take for an option.
 */
function persistentSecret(dataDir: string, file: string, bytes: number, prefix: string): string {
  const p = path.join(dataDir, file);
  if (!existsSync(p)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(p, `${prefix}${randomBytes(bytes).toString('base64url')}\n`, { mode: 0o600 });
  }
  return readFileSync(p, 'utf8').trim();
}

export async function createInfra(config: Config, log: FastifyBaseLogger): Promise<RunningInfra> {
  let embedded: EmbeddedDatabase | null = null;
  let databaseUrl = config.databaseUrl;
  let adminToken = config.adminToken;
  let jwtSecret = config.jwtSecret;
  let adminTokenFile: string | undefined;

  if (config.mode === 'embedded') {
    mkdirSync(config.dataDir, { recursive: true });
    adminTokenFile = path.join(config.dataDir, 'admin-token');
    adminToken ??= persistentSecret(config.dataDir, 'admin-token', 24, 'stampede_admin_');
    jwtSecret ??= persistentSecret(config.dataDir, 'jwt-secret', 48, '');
    // A programmatic config (tests) may hand embedded mode an already-running database.
    if (!databaseUrl) {
      embedded = await startEmbeddedPostgres(config.dataDir, (m) => log.info(m));
      databaseUrl = embedded.url;
    }
  }
  if (!databaseUrl || !adminToken || !jwtSecret) throw new Error('unreachable: config validated these');

  const cleanup: (() => Promise<unknown>)[] = [];
  const closeAll = async (onError: (err: unknown) => void) => {
    for (const fn of cleanup.reverse()) await fn().catch(onError);
    cleanup.length = 0;
    if (embedded) await embedded.stop();
    embedded = null;
  };
  try {
    await migrate(databaseUrl, (m) => log.debug(m));
    const metrics = new Metrics();
    const postgresBreaker = new Breaker('postgres', metrics, log, { counts: isPostgresUnavailable });
    const pool = createPool(databaseUrl, config.pgPoolMax, postgresBreaker);
    cleanup.push(() => pool.end());

    const keys = createKeys(config.redisPrefix);
    let redis: RedisClient | null = null;
    let subscriber: RedisSubscriber | null = null;
    const { redisUrl } = config;
    if (redisUrl) {
      const r = createRedis(redisUrl);
      redis = r;
      cleanup.push(() => r.quit().catch(() => r.disconnect()));
      cleanup.push(async () => subscriber?.disconnect());
    }

    // With tracing on, the SDK (src/infra/otel.ts) was registered before this ran.
    const tracer = config.tracesExporter ? otelTracer() : noopTracer;
    const locks = redis ? redisLocks(redis, keys) : processLocks;
    const commits = createCommits(config, metrics, tracer);
    const admissions = createAdmissions({ config, metrics, log, redis, keys, locks, tracer, commits });
    let pubsub: PubSub | null = null;
    cleanup.push(async () => pubsub?.close());
    const redisSubscriber = () => {
      if (!redisUrl) return null;
      subscriber ??= createRedisSubscriber(redisUrl);
      return subscriber;
    };
    const infra: Infra = {
      config,
      log,
      metrics,
      tracer,
      postgres: () => pool,
      redis: () => redis,
      redisSubscriber,
      pubsub: () => {
        const sub = redisSubscriber();
        pubsub ??= redis && sub ? redisPubSub(redis, sub, config.redisPrefix, log) : memoryPubSub(log);
        return pubsub;
      },
      keys,
      tokens: new Auth(jwtSecret, adminToken),
      commits,
      admissions,
      locks,
    };

    return {
      infra,
      adminToken,
      adminTokenFile,
      async checks() {
        const checks: Record<string, InfraCheck> = {};
        try {
          await pool.query('SELECT 1');
          checks.postgres = { status: 'up' };
        } catch (err) {
          checks.postgres = {
            status: 'down',
            detail: `${(err as Error).message}; breaker ${postgresBreaker.state}`,
          };
        }
        if (redis) {
          try {
            await redis.ping();
            checks.redis = { status: 'up' };
          } catch (err) {
            checks.redis = {
              status: 'down',
              detail: `${(err as Error).message}; writes use PostgreSQL only`,
            };
          }
        }
        return checks;
      },
      close: () => closeAll((err) => log.warn({ err }, 'error during shutdown')),
    };
  } catch (err) {
    await closeAll(() => {});
    throw err;
  }
}
