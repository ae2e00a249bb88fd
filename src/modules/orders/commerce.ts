/**
 * Builds the commerce core (points, catalog, orders, best sellers, outbox relay, notifications,
 * idempotency) for the composition root, picking the memory or Redis adapters by mode, and owns its
 * background work: the outbox relay, the best-seller rebuild check and the janitor.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Config } from '../../config.js';
import { GroupCommitter } from '../../infra/group-committer.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Pool } from '../../infra/postgres/pool.js';
import type { RedisClient } from '../../infra/redis/client.js';
import type { Keys } from '../../infra/redis/keys.js';
import type { ReadCache } from '../catalog/cache.js';
import { MemoryReadCache } from '../catalog/memory-cache.js';
import { RedisReadCache } from '../catalog/redis-cache.js';
import { CatalogRepository } from '../catalog/repository.js';
import { CatalogService } from '../catalog/service.js';
import { IdempotencyRepository } from '../idempotency/repository.js';
import { IdempotencyService } from '../idempotency/service.js';
import { NotificationsRepository } from '../notifications/repository.js';
import { OutboxRelay } from '../outbox/relay.js';
import { OutboxRepository } from '../outbox/repository.js';
import { WebhookSender } from '../outbox/webhook.js';
import { PointsRepository } from '../points/repository.js';
import { PointsService } from '../points/service.js';
import { MemoryRankingStore } from '../ranking/memory-store.js';
import { RedisRankingStore } from '../ranking/redis-store.js';
import { RankingRepository } from '../ranking/repository.js';
import { RankingService } from '../ranking/service.js';
import type { RankingStore } from '../ranking/store.js';
import { OrdersRepository, type PlaceRequest, type PlaceResult } from './repository.js';
import { OrdersService } from './service.js';

export interface CommerceDeps {
  config: Config;
  pool: Pool;
  redis: RedisClient | null;
  keys: Keys;
  metrics: Metrics;
  log: FastifyBaseLogger;
  /** Queued group-commit items outside commerce (coupon issuance), for the relay's yielding. */
  hotPathDepth?: () => number;
}

export interface Commerce {
  catalog: CatalogService;
  points: PointsService;
  orders: OrdersService;
  ranking: RankingService;
  notifications: NotificationsRepository;
  relay: OutboxRelay;
  /** Starts the relay and the periodic checks (call once, in processes that run background work). */
  startBackground(): void;
  /** Stops background work, then flushes pending order commits. */
  close(): Promise<void>;
}

const REBUILD_CHECK_MS = 10_000;
const JANITOR_MS = 3_600_000;
/** Group-commit items queued or in flight at which the hot path counts as under pressure. */
const HOT_PATH_BUSY_DEPTH = 16;

export function createCommerce({
  config,
  pool,
  redis,
  keys,
  metrics,
  log,
  hotPathDepth,
}: CommerceDeps): Commerce {
  const cache: ReadCache = redis ? new RedisReadCache(redis) : new MemoryReadCache();
  const store: RankingStore = redis ? new RedisRankingStore(redis, keys) : new MemoryRankingStore();

  const idemRepo = new IdempotencyRepository(pool);
  const idempotency = new IdempotencyService(idemRepo, metrics);
  const catalog = new CatalogService(new CatalogRepository(pool), cache, keys, metrics, log);
  const points = new PointsService(pool, new PointsRepository(pool), idemRepo, idempotency, metrics);
  const ordersRepo = new OrdersRepository(pool, idemRepo);
  const committer = new GroupCommitter<PlaceRequest, PlaceResult>((items) => ordersRepo.placeBatch(items), {
    name: 'orders',
    maxBatch: config.commitMaxBatch,
    maxWaitMs: config.commitMaxWaitMs,
    concurrency: config.orderCommitConcurrency,
    onBatch: metrics.commitObserver('orders'),
  });
  const orders = new OrdersService(ordersRepo, committer, idempotency, metrics, log);
  const ranking = new RankingService(store, new RankingRepository(pool), catalog, metrics, log);
  const notifications = new NotificationsRepository(pool);
  const outbox = new OutboxRepository(pool);
  const webhook = config.dataPlatformUrl
    ? new WebhookSender(config.dataPlatformUrl, config.outboxWebhookTimeoutMs)
    : null;
  const relay = new OutboxRelay(pool, outbox, notifications, ranking, webhook, metrics, log, {
    pollMs: config.outboxPollMs,
    retryBaseMs: config.outboxRetryBaseMs,
    retryMaxMs: config.outboxRetryMaxMs,
    // A spike's commits queue up: deliver events after it (at most OUTBOX_MAX_YIELD_MS later).
    hotPathBusy: () => committer.depth + (hotPathDepth?.() ?? 0) >= HOT_PATH_BUSY_DEPTH,
    maxYieldMs: config.outboxMaxYieldMs,
  });

  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  const rebuild = () =>
    ranking.ensureBuilt().catch((err) => {
      metrics.rankingErrors.inc({ op: 'rebuild' });
      log.warn({ err }, 'best-seller rebuild failed; will retry');
    });

  return {
    catalog,
    points,
    orders,
    ranking,
    notifications,
    relay,
    startBackground() {
      // The store is rebuilt before the relay feeds it (embedded mode starts empty), then checked
      // periodically (Redis may restart without its data).
      void rebuild().then(() => {
        if (!closed) relay.start();
      });
      const check = setInterval(() => void rebuild(), REBUILD_CHECK_MS);
      const janitor = setInterval(() => {
        Promise.all([idempotency.purge(), outbox.purgeDelivered(7)]).catch((err) =>
          log.warn({ err }, 'janitor pass failed'),
        );
      }, JANITOR_MS);
      check.unref();
      janitor.unref();
      timers.push(check, janitor);
    },
    async close() {
      closed = true;
      for (const t of timers) clearInterval(t);
      await relay.stop();
      await committer.close();
      await webhook?.close();
    },
  };
}
