import { defineModule } from '../../kernel/module.js';
import { RunsRepository } from './repository.js';
import { runsRoutes } from './routes.js';
import { RunsService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    runs: RunsService;
  }
}

/**
 * Rehearsal runs: what the drill (or any rehearsal) created with a run tag can be deleted in one
 * transaction, leaving real data as it was.
 */
export default defineModule({
  name: 'runs',
  infra: ['postgres'],
  dependsOn: ['waitingRooms'],
  prefix: '/api/v1',
  create({ infra, modules: { waitingRooms } }) {
    const runs = new RunsService(new RunsRepository(infra.postgres()), waitingRooms);
    return { service: runs, routes: runsRoutes(runs) };
  },
});
