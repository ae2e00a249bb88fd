import { defineModule } from '../../kernel/module.js';
import type { ReadCache } from './cache.js';
import { MemoryReadCache } from './memory-cache.js';
import { RedisReadCache } from './redis-cache.js';
import { CatalogRepository } from './repository.js';
import { catalogRoutes } from './routes.js';
import { CatalogService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    catalog: CatalogService;
  }
}

/** Products: admin creation (one or in bulk) and reads at most 1 s stale behind a read cache. */
export default defineModule({
  name: 'catalog',
  infra: ['postgres', 'redis', 'keys', 'metrics', 'log', 'config'],
  dependsOn: [],
  prefix: '/api/v1',
  create({ infra }) {
    const redis = infra.redis();
    const cache: ReadCache = redis ? new RedisReadCache(redis) : new MemoryReadCache();
    const catalog = new CatalogService(
      new CatalogRepository(infra.postgres()),
      cache,
      infra.keys,
      infra.metrics,
      infra.log,
    );
    return {
      service: catalog,
      routes: catalogRoutes(catalog, infra.config.bodyLimit),
      health: () => catalog.health(),
    };
  },
});
