import { defineModule } from '../../kernel/module.js';
import { MemoryRankingStore } from './memory-store.js';
import { RedisRankingStore } from './redis-store.js';
import { RankingRepository } from './repository.js';
import { rankingRoutes } from './routes.js';
import { RankingService } from './service.js';
import type { RankingStore } from './store.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    ranking: RankingService;
  }
}

/** How often the store is checked for lost data (Redis may restart without it), in ms. */
const REBUILD_CHECK_MS = 10_000;

/** Best sellers over the last D days, from an incremental store fed by the outbox relay. */
export default defineModule({
  name: 'ranking',
  infra: ['postgres', 'redis', 'keys', 'metrics', 'log'],
  dependsOn: ['catalog'],
  prefix: '/api/v1',
  create({ infra, modules: { catalog } }) {
    const redis = infra.redis();
    const store: RankingStore = redis ? new RedisRankingStore(redis, infra.keys) : new MemoryRankingStore();
    const ranking = new RankingService(
      store,
      new RankingRepository(infra.postgres()),
      catalog,
      infra.metrics,
      infra.log,
    );
    const rebuild = () =>
      ranking.ensureBuilt().catch((err) => {
        infra.metrics.rankingErrors.inc({ op: 'rebuild' });
        infra.log.warn({ err }, 'best-seller rebuild failed; will retry');
      });
    let check: NodeJS.Timeout | null = null;
    return {
      service: ranking,
      routes: rankingRoutes(ranking),
      // The store is rebuilt before the relay (which starts after this module) feeds it: embedded
      // mode starts empty. Then it is checked periodically.
      async start() {
        await rebuild();
        check = setInterval(() => void rebuild(), REBUILD_CHECK_MS);
        check.unref();
      },
      async close() {
        if (check) clearInterval(check);
      },
    };
  },
});
