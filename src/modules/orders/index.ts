import { defineModule } from '../../kernel/module.js';
import { OrdersRepository, type PlaceRequest, type PlaceResult } from './repository.js';
import { ordersRoutes } from './routes.js';
import { OrdersService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    orders: OrdersService;
  }
}

/** Orders paid with points (and a coupon), group-committed: stock, coupon and points together or not at all. */
export default defineModule({
  name: 'orders',
  infra: ['postgres', 'commits', 'metrics', 'log', 'config'],
  dependsOn: ['idempotency'],
  prefix: '/api/v1',
  create({ infra, modules: { idempotency } }) {
    const repo = new OrdersRepository(infra.postgres(), idempotency.repo);
    // Orders of one batch share hot rows (products), so concurrent batches mostly wait on each
    // other's locks: ORDER_COMMIT_CONCURRENCY (default 1) makes the largest batches.
    const committer = infra.commits.single<PlaceRequest, PlaceResult>(
      'orders',
      (items, traceparents) => repo.placeBatch(items, traceparents),
      {
        concurrency: infra.config.orderCommitConcurrency,
      },
    );
    const orders = new OrdersService(repo, committer, idempotency, infra.metrics, infra.log);
    return {
      service: orders,
      routes: ordersRoutes(orders),
      close: () => committer.close(),
    };
  },
});
