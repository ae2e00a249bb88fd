import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { named, responses } from '../../http/responses.js';
import { QueryInteger } from '../../http/schemas.js';
import type { RankingService } from './service.js';

const BestSeller = named(
  'BestSeller',
  Type.Object({
    productId: Type.String(),
    name: Type.String(),
    price: Type.Integer(),
    soldQuantity: Type.Integer({ description: 'units sold in paid orders over the window' }),
  }),
  {
    description: 'A product among the best sellers',
    example: { productId: '1', name: 'Limited sneaker', price: 12000, soldQuantity: 42 },
  },
);

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
            'Best sellers: top products by units sold in paid orders over the last `days` UTC days (today included); rehearsal traffic left out unless includeDrill=true',
          querystring: Type.Object({
            days: QueryInteger({ minimum: 1, maximum: 30, default: 3 }),
            limit: QueryInteger({ minimum: 1, maximum: 50, default: 5 }),
            includeDrill: Type.Boolean({
              default: false,
              description:
                'true: also count rehearsal traffic (orders of users, and lines of products, created with a runTag); answered from PostgreSQL',
            }),
          }),
          response: responses(
            {
              200: Type.Object(
                { items: Type.Array(BestSeller.ref) },
                { description: 'Most sold first; ties by the smaller product id' },
              ),
            },
            {
              VALIDATION_FAILED:
                '`days` outside 1..30, `limit` outside 1..50, or `includeDrill` not true or false',
            },
          ),
        },
      },
      async (request) => {
        const { days, limit, includeDrill } = request.query;
        return { items: await ranking.popular(days, limit, includeDrill) };
      },
    );
  };
