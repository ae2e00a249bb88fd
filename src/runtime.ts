/**
 * The composition root: config → infrastructure (PostgreSQL embedded or external, Redis in cluster
 * mode) → migrations → services → background loops. `close()` undoes it in reverse: stop loops,
 * flush pending commits, close connections, stop the embedded PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import type { Config } from './config.js';
import { Auth } from './http/auth.js';
import { KeyedGroupCommitter } from './infra/group-committer.js';
import { Metrics } from './infra/metrics.js';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './infra/postgres/embedded.js';
import { migrate } from './infra/postgres/migrate.js';
import { createPool } from './infra/postgres/pool.js';
import { createRedis, type RedisClient } from './infra/redis/client.js';
import { createKeys } from './infra/redis/keys.js';
import type { CouponGate } from './modules/coupons/gate.js';
import { MemoryCouponGate } from './modules/coupons/memory-gate.js';
import { RedisCouponGate } from './modules/coupons/redis-gate.js';
import { CouponsRepository, type IssueRequest, type IssueResult } from './modules/coupons/repository.js';
import { CouponsService } from './modules/coupons/service.js';
import { createCommerce } from './modules/orders/commerce.js';
import { UsersRepository } from './modules/users/repository.js';
import type { AppServices } from './services.js';

export interface Runtime {
  services: AppServices;
  log: FastifyBaseLogger;
  /** Where embedded mode keeps the admin token, for the start banner. */
  adminTokenFile?: string;
  /** The admin token in force (generated once in embedded mode). */
  adminToken: string;
  /** Runs background loops (reconciler) until close(). */
  startBackground(): void;
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

export function createLogger(config: Config): FastifyBaseLogger {
  return pino({ level: config.logLevel, base: { pid: process.pid } }) as unknown as FastifyBaseLogger;
}

export async function createRuntime(
  config: Config,
  log: FastifyBaseLogger = createLogger(config),
): Promise<Runtime> {
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
  const timers: NodeJS.Timeout[] = [];
  try {
    await migrate(databaseUrl, (m) => log.debug(m));
    const pool = createPool(databaseUrl, config.pgPoolMax);
    cleanup.push(() => pool.end());

    let redis: RedisClient | null = null;
    let gate: CouponGate;
    const keys = createKeys(config.redisPrefix);
    if (config.redisUrl) {
      redis = createRedis(config.redisUrl);
      const r = redis;
      cleanup.push(() => r.quit().catch(() => r.disconnect()));
      gate = new RedisCouponGate(redis, keys);
    } else {
      gate = new MemoryCouponGate();
    }

    const metrics = new Metrics();
    const couponsRepo = new CouponsRepository(pool);
    // One committer per coupon: a hot drop never queues behind another drop's commits.
    const committer = new KeyedGroupCommitter<IssueRequest, IssueResult>(
      (items) => couponsRepo.issueBatch(items),
      {
        name: 'coupon-issue',
        maxBatch: config.commitMaxBatch,
        maxWaitMs: config.commitMaxWaitMs,
        concurrency: config.commitConcurrency,
        onBatch: metrics.commitObserver('coupon-issue'),
      },
    );
    // Closed before the pool: pending commits flush first.
    cleanup.push(() => committer.close());

    const coupons = new CouponsService(couponsRepo, gate, committer, metrics, log);
    // Commerce core (issue 3): closed before the coupon committer, the pool and Redis.
    const commerce = createCommerce({
      config,
      pool,
      redis,
      keys,
      metrics,
      log,
      hotPathDepth: () => committer.depth,
    });
    cleanup.push(() => commerce.close());
    const services: AppServices = {
      config,
      pool,
      redis,
      metrics,
      auth: new Auth(jwtSecret, adminToken),
      users: new UsersRepository(pool),
      coupons,
      catalog: commerce.catalog,
      points: commerce.points,
      orders: commerce.orders,
      ranking: commerce.ranking,
      notifications: commerce.notifications,
      lifecycle: { state: 'starting' },
    };

    const runReconciler = async () => {
      if (redis) {
        // One reconciler at a time across processes.
        const ok = await redis.set(
          keys.reconcilerLock(),
          String(process.pid),
          'PX',
          config.reconcileIntervalMs * 5,
          'NX',
        );
        if (ok !== 'OK') return;
        try {
          await coupons.reconcile(config.reconcileAfterMs);
        } finally {
          await redis.del(keys.reconcilerLock());
        }
      } else {
        await coupons.reconcile(config.reconcileAfterMs);
      }
    };

    let closed = false;
    /** The reconciler pass in flight, awaited by close() before the pool goes away. */
    let reconciling: Promise<void> | null = null;
    return {
      services,
      log,
      adminTokenFile,
      adminToken,
      startBackground() {
        if (!config.runBackground) return;
        commerce.startBackground();
        const t = setInterval(() => {
          if (reconciling || closed) return;
          reconciling = runReconciler()
            .catch((err) => log.warn({ err }, 'reconciler pass failed'))
            .finally(() => {
              reconciling = null;
            });
        }, config.reconcileIntervalMs);
        t.unref();
        timers.push(t);
      },
      async close() {
        if (closed) return;
        closed = true;
        for (const t of timers) clearInterval(t);
        await reconciling;
        for (const fn of cleanup.reverse())
          await fn().catch((err) => log.warn({ err }, 'error during shutdown'));
        if (embedded) await embedded.stop();
      },
    };
  } catch (err) {
    for (const fn of cleanup.reverse()) await fn().catch(() => {});
    if (embedded) await embedded.stop();
    throw err;
  }
}
