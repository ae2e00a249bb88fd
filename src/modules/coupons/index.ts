import { defineModule } from '../../kernel/module.js';
import { CouponsRepository } from './repository.js';
import { couponsRoutes } from './routes.js';
import { CouponsService, couponUnits } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    coupons: CouponsService;
  }
}

/**
 * FCFS coupon drops on the admission protocol: the gate answers duplicates and sold-out, the group
 * commit makes each issue durable before its 201, the reconciler gives back what a crash left.
 */
export default defineModule({
  name: 'coupons',
  infra: ['postgres', 'admissions', 'metrics'],
  dependsOn: ['waitingRooms'],
  prefix: '/api/v1',
  create({ infra, modules: { waitingRooms } }) {
    const repo = new CouponsRepository(infra.postgres());
    const admission = infra.admissions.protocol(couponUnits(repo));
    const coupons = new CouponsService(repo, admission, infra.metrics, waitingRooms);
    return {
      service: coupons,
      routes: couponsRoutes(coupons),
      start: () => admission.start(),
      close: () => admission.close(),
      health: () => admission.health(),
    };
  },
});
