import { defineModule } from '../../kernel/module.js';
import { NotificationsRepository } from './repository.js';
import { notificationsRoutes } from './routes.js';
import { NotificationsService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    notifications: NotificationsService;
  }
}

/** One notification per delivered event for its user; the outbox relay records them. */
export default defineModule({
  name: 'notifications',
  infra: ['postgres'],
  dependsOn: [],
  prefix: '/api/v1',
  create({ infra }) {
    const notifications = new NotificationsService(new NotificationsRepository(infra.postgres()));
    return { service: notifications, routes: notificationsRoutes(notifications) };
  },
});
