import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { appError } from '../../http/errors.js';
import { adminSecurity, ProblemResponses, userSecurity } from '../../http/schemas.js';
import type { AppServices } from '../../services.js';

const UserWithToken = Type.Object({ id: Type.String(), name: Type.String(), token: Type.String() });
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' });

export const usersRoutes: FastifyPluginAsyncTypebox<{ services: AppServices }> = async (
  app,
  { services },
) => {
  const { auth, users } = services;

  app.post(
    '/api/v1/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user and get a bearer token for it',
        body: Type.Object({ name: Name }, { additionalProperties: false }),
        response: { 201: UserWithToken, ...ProblemResponses },
      },
    },
    async (request, reply) => {
      const user = await users.create(request.body.name);
      return reply.code(201).send({ ...user, token: await auth.sign(user) });
    },
  );

  app.post(
    '/api/v1/admin/users/bulk',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create many users at once (drills, rehearsals)',
        security: adminSecurity,
        body: Type.Object(
          {
            count: Type.Integer({ minimum: 1, maximum: 10_000 }),
            namePrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 80 })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ users: Type.Array(UserWithToken) }), ...ProblemResponses },
      },
      preHandler: (request) => auth.admin(request),
    },
    async (request, reply) => {
      const prefix = request.body.namePrefix ?? 'user';
      const names = Array.from({ length: request.body.count }, (_, i) => `${prefix}-${i + 1}`);
      const created = await users.createMany(names);
      const withTokens = await Promise.all(created.map(async (u) => ({ ...u, token: await auth.sign(u) })));
      return reply.code(201).send({ users: withTokens });
    },
  );

  app.get(
    '/api/v1/me',
    {
      schema: {
        tags: ['users'],
        summary: 'Who the bearer token names',
        security: userSecurity,
        response: { 200: Type.Object({ id: Type.String(), name: Type.String() }), ...ProblemResponses },
      },
    },
    async (request) => {
      const principal = await auth.user(request);
      const user = await users.get(principal.id);
      if (!user) throw appError('UNAUTHENTICATED', 'the user named by the token does not exist');
      return user;
    },
  );
};
