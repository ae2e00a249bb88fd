import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { ProblemResponses, Text } from '../../http/schemas.js';
import type { UsersService } from './service.js';

const UserWithToken = Type.Object({ id: Type.String(), name: Type.String(), token: Type.String() });
const Name = Text({ max: 100 });

export const usersRoutes =
  (users: UsersService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/users',
      {
        config: { access: 'public' },
        schema: {
          tags: ['users'],
          summary: 'Create a user and get a bearer token for it',
          body: Type.Object({ name: Name }, { additionalProperties: false }),
          response: { 201: UserWithToken, ...ProblemResponses },
        },
      },
      async (request, reply) => {
        return reply.code(201).send(await users.create(request.body.name));
      },
    );

    app.post(
      '/admin/users/bulk',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin'],
          summary: 'Create many users at once (drills, rehearsals)',
          body: Type.Object(
            {
              count: Type.Integer({ minimum: 1, maximum: 10_000 }),
              namePrefix: Type.Optional(Text({ max: 80 })),
            },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ users: Type.Array(UserWithToken) }), ...ProblemResponses },
        },
      },
      async (request, reply) => {
        const created = await users.createMany(request.body.namePrefix ?? 'user', request.body.count);
        return reply.code(201).send({ users: created });
      },
    );

    app.get(
      '/me',
      {
        config: { access: 'user' },
        schema: {
          tags: ['users'],
          summary: 'Who the bearer token names',
          response: { 200: Type.Object({ id: Type.String(), name: Type.String() }), ...ProblemResponses },
        },
      },
      async (request) => {
        const principal = userOf(request);
        const user = await users.get(principal.id);
        if (!user) throw appError('UNAUTHENTICATED', 'the user named by the token does not exist');
        return user;
      },
    );
  };
