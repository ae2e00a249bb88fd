import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { decodeCursor, pageOf } from '../../http/pagination.js';
import { PageQuery, ProblemResponses } from '../../http/schemas.js';
import type { NotificationsService } from './service.js';

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
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({
                  id: Type.String(),
                  eventId: Type.String(),
                  kind: Type.String(),
                  message: Type.String(),
                  at: Type.String({ format: 'date-time' }),
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
