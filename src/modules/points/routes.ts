import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { decodeCursor, pageOf } from '../../http/pagination.js';
import { PageQuery, ProblemResponses } from '../../http/schemas.js';
import { IdempotencyHeaders, requestHash } from '../idempotency/service.js';
import type { PointsService } from './service.js';
import { CHARGE_ROUTE } from './service.js';

const Balance = Type.Object({ balance: Type.Integer() });

export const pointsRoutes =
  (points: PointsService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/me/points',
      {
        config: { access: 'user' },
        schema: {
          tags: ['points'],
          summary: 'The point balance (exact)',
          response: { 200: Balance, ...ProblemResponses },
        },
      },
      async (request) => {
        const user = userOf(request);
        return { balance: await points.balance(user.id) };
      },
    );

    app.post(
      '/me/points/charge',
      {
        config: { access: 'user' },
        schema: {
          tags: ['points'],
          summary: 'Add points (1..1,000,000; the balance may not exceed 10,000,000)',
          headers: IdempotencyHeaders,
          body: Type.Object(
            { amount: Type.Integer({ minimum: 1, maximum: 1_000_000 }) },
            { additionalProperties: false },
          ),
          response: { 200: Balance, ...ProblemResponses },
        },
      },
      async (request, reply) => {
        const user = userOf(request);
        const key = request.headers['idempotency-key'];
        const idem = key ? { key, requestHash: requestHash('POST', CHARGE_ROUTE, request.body) } : null;
        const answer = await points.charge(user.id, request.body.amount, idem);
        if (answer.replayed) reply.header('idempotent-replayed', 'true');
        return reply.code(answer.status).send(answer.body as { balance: number });
      },
    );

    app.get(
      '/me/points/history',
      {
        config: { access: 'user' },
        schema: {
          tags: ['points'],
          summary:
            'Ledger of the wallet, newest first; amount is signed (USE < 0) and the rows sum to the balance',
          querystring: PageQuery,
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
        const user = userOf(request);
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
