import { defineModule } from '../../kernel/module.js';
import { PointsRepository } from './repository.js';
import { pointsRoutes } from './routes.js';
import { PointsService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    points: PointsService;
  }
}

/** The points wallet: balance, charges (idempotent with a key) and the ledger. */
export default defineModule({
  name: 'points',
  infra: ['postgres', 'metrics'],
  dependsOn: ['idempotency'],
  prefix: '/api/v1',
  create({ infra, modules: { idempotency } }) {
    const pool = infra.postgres();
    const points = new PointsService(
      pool,
      new PointsRepository(pool),
      idempotency.repo,
      idempotency,
      infra.metrics,
    );
    return { service: points, routes: pointsRoutes(points) };
  },
});
