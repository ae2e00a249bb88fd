import { defineModule } from '../../kernel/module.js';
import { UsersRepository } from './repository.js';
import { usersRoutes } from './routes.js';
import { UsersService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    users: UsersService;
  }
}

/** Users: create (one or in bulk, each with a token) and who-am-I. */
export default defineModule({
  name: 'users',
  infra: ['postgres', 'tokens'],
  dependsOn: [],
  prefix: '/api/v1',
  create({ infra }) {
    const users = new UsersService(new UsersRepository(infra.postgres()), infra.tokens);
    return { service: users, routes: usersRoutes(users) };
  },
});
