import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { ProblemResponses, QueryInteger } from '../../http/schemas.js';
import type { RankingService } from './service.js';

export const rankingRoutes =
  (ranking: RankingService): FastifyPluginAsyncTypebox =>
  async (app) => {
    // A static path: find-my-way matches it before the parametric /api/v1/products/:productId.
    app.get(
      '/products/popular',
      {
        config: { access: 'public' },
        schema: {
          tags: ['catalog'],
          summary:
            'Best sellers: top products by units sold in paid orders over the last `days` UTC days (today included)',
          querystring: Type.Object({
            days: QueryInteger({ minimum: 1, maximum: 30, default: 3 }),
            limit: QueryInteger({ minimum: 1, maximum: 50, default: 5 }),
          }),
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({
                  productId: Type.String(),
                  name: Type.String(),
                  price: Type.Integer(),
                  soldQuantity: Type.Integer(),
                }),
              ),
            }),
            ...ProblemResponses,
          },
        },
      },
      async (request) => ({ items: await ranking.popular(request.query.days, request.query.limit) }),
    );
  };
