import type { Config } from './config.js';
import type { Auth } from './http/auth.js';
import type { Metrics } from './infra/metrics.js';
import type { Pool } from './infra/postgres/pool.js';
import type { RedisClient } from './infra/redis/client.js';
import type { CatalogService } from './modules/catalog/service.js';
import type { CouponsService } from './modules/coupons/service.js';
import type { NotificationsRepository } from './modules/notifications/repository.js';
import type { OrdersService } from './modules/orders/service.js';
import type { PointsService } from './modules/points/service.js';
import type { RankingService } from './modules/ranking/service.js';
import type { UsersRepository } from './modules/users/repository.js';

/** Everything the HTTP layer needs, built once by the runtime (the composition root). */
export interface AppServices {
  config: Config;
  pool: Pool;
  redis: RedisClient | null;
  metrics: Metrics;
  auth: Auth;
  users: UsersRepository;
  coupons: CouponsService;
  catalog: CatalogService;
  points: PointsService;
  orders: OrdersService;
  ranking: RankingService;
  notifications: NotificationsRepository;
  /** 'starting' | 'ready' | 'draining': /readyz answers 503 unless 'ready'. */
  lifecycle: { state: 'starting' | 'ready' | 'draining' };
}
