import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { named, responses } from '../../http/responses.js';
import { RunTag, Text } from '../../http/schemas.js';
import type { UsersService } from './service.js';

const User = named('User', Type.Object({ id: Type.String(), name: Type.String() }), {
  description: 'A user',
  example: { id: '1', name: 'ann' },
});

const UserWithToken = named(
  'UserWithToken',
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    token: Type.String({ description: 'bearer token of this user (a signed JWT, valid 30 days)' }),
  }),
  {
    description: 'A new user and its bearer token',
    example: { id: '1', name: 'ann', token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2ln' },
  },
);

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
          body: Type.Object({ name: Name }, { additionalProperties: false, examples: [{ name: 'ann' }] }),
          response: responses({ 201: UserWithToken.answer('Created') }),
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
              runTag: Type.Optional(RunTag),
            },
            {
              additionalProperties: false,
              examples: [{ count: 2, namePrefix: 'drill', runTag: 'drill-20261128-000000-3f9a1c' }],
            },
          ),
          response: responses({
            201: Type.Object(
              { users: Type.Array(UserWithToken.ref) },
              {
                description: 'Created, in name order (`<namePrefix>-1` …)',
                examples: [
                  {
                    users: [
                      { id: '2', name: 'drill-1', token: 'eyJ...' },
                      { id: '3', name: 'drill-2', token: 'eyJ...' },
                    ],
                  },
                ],
              },
            ),
          }),
        },
      },
      async (request, reply) => {
        const { namePrefix, count, runTag } = request.body;
        const created = await users.createMany(namePrefix ?? 'user', count, runTag ?? null);
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
          response: responses(
            { 200: User.answer('The user the token names') },
            {
              UNAUTHENTICATED:
                'no `Authorization: Bearer <token>`, a malformed, forged or expired token, or a token naming a user that no longer exists',
            },
          ),
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
