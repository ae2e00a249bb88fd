import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf } from '../../http/pagination.js';
import { IdParam, IdText, isId, PageQuery, ProblemResponses } from '../../http/schemas.js';
import { IdempotencyHeaders, requestHash } from '../idempotency/service.js';
import type { OrderView } from './repository.js';
import type { OrdersService } from './service.js';
import { ORDERS_ROUTE } from './service.js';

const Order = Type.Object({
  orderId: Type.String(),
  status: Type.Literal('PAID'),
  items: Type.Array(
    Type.Object({
      productId: Type.String(),
      name: Type.String(),
      quantity: Type.Integer(),
      unitPrice: Type.Integer(),
      lineTotal: Type.Integer(),
    }),
  ),
  subtotal: Type.Integer(),
  discount: Type.Integer(),
  total: Type.Integer(),
  balanceAfter: Type.Integer({ description: 'point balance right after this order' }),
  userCouponId: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});

const NewOrderBody = Type.Object(
  {
    items: Type.Array(
      Type.Object(
        {
          productId: IdText,
          quantity: Type.Integer({ minimum: 1, maximum: 1000 }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 100, description: 'each productId at most once' },
    ),
    userCouponId: Type.Optional(IdText),
  },
  { additionalProperties: false },
);

export const ordersRoutes =
  (orders: OrdersService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/orders',
      {
        config: { access: 'user' },
        schema: {
          tags: ['orders'],
          summary: 'Buy with points: stock, the coupon and the points are taken together or not at all',
          description:
            '409 OUT_OF_STOCK (detail names the product) · 402 INSUFFICIENT_POINTS · 409 COUPON_UNAVAILABLE · 404 NOT_FOUND (product) · ' +
            '400 VALIDATION_FAILED · 422 IDEMPOTENCY_KEY_REUSED · 409 IDEMPOTENCY_IN_PROGRESS · 503 UNAVAILABLE',
          headers: IdempotencyHeaders,
          body: NewOrderBody,
          response: { 201: Order, ...ProblemResponses },
        },
      },
      async (request, reply) => {
        const user = userOf(request);
        const key = request.headers['idempotency-key'];
        const idem = key ? { key, requestHash: requestHash('POST', ORDERS_ROUTE, request.body) } : null;
        const answer = await orders.place(user.id, request.body, idem);
        if (answer.replayed) reply.header('idempotent-replayed', 'true');
        return reply.code(answer.status).send(answer.body as OrderView);
      },
    );

    app.get(
      '/orders/:orderId',
      {
        config: { access: 'user' },
        schema: {
          tags: ['orders'],
          summary: "One of the user's orders (anyone else's is 404)",
          params: Type.Object({ orderId: IdParam }),
          response: { 200: Order, ...ProblemResponses },
        },
      },
      async (request) => {
        const user = userOf(request);
        const { orderId } = request.params;
        const order = isId(orderId) ? await orders.get(orderId, user.id) : null;
        if (!order) throw appError('NOT_FOUND', `no order ${orderId}`);
        return order;
      },
    );

    app.get(
      '/me/orders',
      {
        config: { access: 'user' },
        schema: {
          tags: ['orders'],
          summary: "The user's orders, newest first",
          querystring: PageQuery,
          response: {
            200: Type.Object({ items: Type.Array(Order), nextCursor: Type.Optional(Type.String()) }),
            ...ProblemResponses,
          },
        },
      },
      async (request) => {
        const user = userOf(request);
        const { cursor, limit } = request.query;
        const page = pageOf(await orders.list(user.id, decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map(({ id: _id, ...o }) => o),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );
  };
