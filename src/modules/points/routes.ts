import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { PageQuery } from '../../http/schemas.js';
import { IdempotencyHeaders, requestHash } from '../idempotency/service.js';
import type { PointsService } from './service.js';
import { CHARGE_ROUTE } from './service.js';

const Balance = named('Balance', Type.Object({ balance: Type.Integer({ description: 'points' }) }), {
  description: 'A point balance (exact)',
  example: { balance: 20000 },
});

const LedgerEntry = named(
  'LedgerEntry',
  Type.Object({
    id: Type.String(),
    type: Type.Union([Type.Literal('CHARGE'), Type.Literal('USE'), Type.Literal('REFUND')]),
    amount: Type.Integer({ description: 'signed: USE < 0' }),
    balanceAfter: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
    ref: Type.Optional(Type.String({ description: '`order:<id>` or `idempotency-key:<key>`' })),
  }),
  {
    description: 'One row of the point ledger',
    example: {
      id: '2',
      type: 'USE',
      amount: -10800,
      balanceAfter: 9200,
      at: '2026-11-21T22:53:03.706Z',
      ref: 'order:1',
    },
  },
);

const PAGE_REFUSAL = '`limit` outside 1..100, or a `cursor` this API did not hand out';

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
          response: responses({ 200: Balance.answer('The balance') }),
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
            { additionalProperties: false, examples: [{ amount: 20000 }] },
          ),
          response: responses(
            { 200: Balance.answer('Charged: the new balance') },
            {
              BALANCE_LIMIT: 'the balance would exceed 10,000,000; nothing was charged',
              IDEMPOTENCY_IN_PROGRESS: 'a request with this Idempotency-Key is still running; retry',
              IDEMPOTENCY_KEY_REUSED: 'this Idempotency-Key was used with a different request',
            },
          ),
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
          response: responses(
            {
              200: pageSchema(LedgerEntry.ref, 'newest first'),
            },
            { VALIDATION_FAILED: PAGE_REFUSAL },
          ),
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
