import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ProblemResponses, userSecurity } from '../../http/schemas.js';
import type { AppServices } from '../../services.js';
import { decodeCursor, pageOf } from '../catalog/cursor.js';
import { IDEMPOTENCY_KEY_PATTERN, requestHash } from '../idempotency/service.js';
import { CHARGE_ROUTE } from './service.js';

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description: 'Optional; 1..255 visible ASCII characters, unique per user and request, kept ≥ 24 h',
    }),
  ),
});

const Balance = Type.Object({ balance: Type.Integer() });

export const pointsRoutes: FastifyPluginAsyncTypebox<{ services: AppServices }> = async (
  app,
  { services },
) => {
  const { auth, points } = services;

  app.get(
    '/api/v1/me/points',
    {
      schema: {
        tags: ['points'],
        summary: 'The point balance (exact)',
        security: userSecurity,
        response: { 200: Balance, ...ProblemResponses },
      },
    },
    async (request) => {
      const user = await auth.user(request);
      return { balance: await points.balance(user.id) };
    },
  );

  app.post(
    CHARGE_ROUTE,
    {
      schema: {
        tags: ['points'],
        summary: 'Add points (1..1,000,000; the balance may not exceed 10,000,000)',
        security: userSecurity,
        headers: IdempotencyHeaders,
        body: Type.Object(
          { amount: Type.Integer({ minimum: 1, maximum: 1_000_000 }) },
          { additionalProperties: false },
        ),
        response: { 200: Balance, ...ProblemResponses },
      },
    },
    async (request, reply) => {
      const user = await auth.user(request);
      const key = request.headers['idempotency-key'];
      const idem = key ? { key, requestHash: requestHash('POST', CHARGE_ROUTE, request.body) } : null;
      const answer = await points.charge(user.id, request.body.amount, idem);
      if (answer.replayed) reply.header('idempotent-replayed', 'true');
      return reply.code(answer.status).send(answer.body as { balance: number });
    },
  );

  app.get(
    '/api/v1/me/points/history',
    {
      schema: {
        tags: ['points'],
        summary:
          'Ledger of the wallet, newest first; amount is signed (USE < 0) and the rows sum to the balance',
        security: userSecurity,
        querystring: Type.Object({
          cursor: Type.Optional(Type.String({ maxLength: 64 })),
          limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
        }),
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({
                id: Type.String(),
                type: Type.Union([Type.Literal('CHARGE'), Type.Literal('USE'), Type.Literal('REFUND')]),
                amount: Type.Integer(),
                balanceAfter: Type.Integer(),
                at: Type.String({ format: 'date-time' }),
                ref: Type.Optional(Type.String()),
              }),
            ),
            nextCursor: Type.Optional(Type.String()),
          }),
          ...ProblemResponses,
        },
      },
    },
    async (request) => {
      const user = await auth.user(request);
      const { cursor, limit } = request.query;
      const page = pageOf(await points.history(user.id, decodeCursor(cursor), limit), limit);
      return {
        items: page.items.map((r) => ({
          id: r.id,
          type: r.type,
          amount: r.amount,
          balanceAfter: r.balanceAfter,
          at: r.at.toISOString(),
          ...(r.ref ? { ref: r.ref } : {}),
        })),
        ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
      };
    },
  );
};
