import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { PageQuery } from '../../http/schemas.js';
import type { NotificationsService } from './service.js';

const Notification = named(
  'Notification',
  Type.Object({
    id: Type.String(),
    eventId: Type.String({ description: 'the outbox event it was written for' }),
    kind: Type.String({ description: '`ORDER_PAID` or `COUPON_ISSUED` (more may be added)' }),
    message: Type.String(),
    at: Type.String({ format: 'date-time' }),
  }),
  {
    description: 'A notification of the user',
    example: {
      id: '2',
      eventId: '7',
      kind: 'ORDER_PAID',
      message: 'Order 1 is paid: 10800 points.',
      at: '2026-11-21T22:53:04.012Z',
    },
  },
);

export const notificationsRoutes =
  (notifications: NotificationsService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/me/notifications',
      {
        config: { access: 'user' },
        schema: {
          tags: ['notifications'],
          summary: 'Notifications of the user (one per paid order or issued coupon), newest first',
          querystring: PageQuery,
          response: responses(
            {
              200: pageSchema(Notification.ref, 'newest first'),
            },
            { VALIDATION_FAILED: '`limit` outside 1..100, or a `cursor` this API did not hand out' },
          ),
        },
      },
      async (request) => {
        const user = userOf(request);
        const { cursor, limit } = request.query;
        const page = pageOf(await notifications.listForUser(user.id, decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map((n) => ({
            id: n.id,
            eventId: n.eventId,
            kind: n.kind,
            message: n.message,
            at: n.createdAt.toISOString(),
          })),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );
  };
