import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { IdParam, IdText, isId, PageQuery } from '../../http/schemas.js';
import { IdempotencyHeaders, requestHash } from '../idempotency/service.js';
import type { OrderView } from './repository.js';
import type { OrdersService } from './service.js';
import { ORDERS_ROUTE } from './service.js';

const Order = named(
  'Order',
  Type.Object({
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
    total: Type.Integer({ description: 'subtotal − discount, in points' }),
    balanceAfter: Type.Integer({ description: 'point balance right after this order' }),
    userCouponId: Type.Optional(Type.String({ description: 'the coupon used, if any' })),
    createdAt: Type.String({ format: 'date-time' }),
  }),
  {
    description: 'A paid order',
    example: {
      orderId: '1',
      status: 'PAID',
      items: [{ productId: '1', name: 'Limited sneaker', quantity: 1, unitPrice: 12000, lineTotal: 12000 }],
      subtotal: 12000,
      discount: 1200,
      total: 10800,
      balanceAfter: 9200,
      userCouponId: '1',
      createdAt: '2026-11-21T22:53:03.706Z',
    },
  },
);

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
  {
    additionalProperties: false,
    examples: [{ items: [{ productId: '1', quantity: 1 }], userCouponId: '1' }],
  },
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
          headers: IdempotencyHeaders,
          body: NewOrderBody,
          response: responses(
            { 201: Order.answer('Paid (or the same answer again for a replayed Idempotency-Key)') },
            {
              VALIDATION_FAILED:
                'the body does not match the schema, or a productId appears twice; `detail` names the field',
              NOT_FOUND: 'a product of the order does not exist',
              OUT_OF_STOCK: 'a product has fewer units left than asked (`detail` names it)',
              COUPON_UNAVAILABLE: "the coupon is not the caller's, already used, or expired",
              INSUFFICIENT_POINTS: 'the total is more than the balance',
              IDEMPOTENCY_IN_PROGRESS: 'a request with this Idempotency-Key is still running; retry',
              IDEMPOTENCY_KEY_REUSED: 'this Idempotency-Key was used with a different request',
              UNAVAILABLE: 'the order could not be made durable; nothing was taken, retry with the same key',
            },
          ),
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
          response: responses(
            { 200: Order.answer("The caller's order") },
            { NOT_FOUND: "no such order, or someone else's" },
          ),
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
          response: responses(
            {
              200: pageSchema(Order.ref, 'newest first'),
            },
            { VALIDATION_FAILED: '`limit` outside 1..100, or a `cursor` this API did not hand out' },
          ),
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
