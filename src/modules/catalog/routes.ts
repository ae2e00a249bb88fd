import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf } from '../../http/pagination.js';
import { IdParam, isId, PageQuery, ProblemResponses, Text } from '../../http/schemas.js';
import type { ProductRow } from './repository.js';
import type { CatalogService } from './service.js';

export const ProductInput = Type.Object(
  {
    name: Text({ max: 200 }),
    price: Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'points' }),
    stock: Type.Integer({ minimum: 0, maximum: 1_000_000_000 }),
    description: Type.Optional(Text({ min: 0, max: 2000, multiline: true })),
  },
  { additionalProperties: false },
);

const Product = Type.Object({
  id: Type.String(),
  name: Type.String(),
  price: Type.Integer(),
  stock: Type.Integer({ description: 'units left; reads lag by at most 1 s' }),
  description: Type.Union([Type.String(), Type.Null()]),
});

const ProductSummary = Type.Object({
  id: Type.String(),
  name: Type.String(),
  price: Type.Integer(),
  stock: Type.Integer(),
});

/** A bulk of 10,000 products with long descriptions is larger than the default body limit. */
const BULK_BODY_LIMIT = 32 * 1_048_576;

const view = (p: ProductRow) => ({
  id: p.id,
  name: p.name,
  price: p.price,
  stock: p.stock,
  description: p.description,
});

export const catalogRoutes =
  (catalog: CatalogService, bodyLimit: number): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/admin/products',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'catalog'],
          summary: 'Create a product',
          body: ProductInput,
          response: { 201: Product, ...ProblemResponses },
        },
      },
      async (request, reply) => reply.code(201).send(view(await catalog.create(request.body))),
    );

    app.post(
      '/admin/products/bulk',
      {
        config: { access: 'admin' },
        bodyLimit: Math.max(BULK_BODY_LIMIT, bodyLimit),
        schema: {
          tags: ['admin', 'catalog'],
          summary: 'Create 1..10,000 products in one statement; ids in input order',
          body: Type.Object(
            { products: Type.Array(ProductInput, { minItems: 1, maxItems: 10_000 }) },
            { additionalProperties: false },
          ),
          response: { 201: Type.Object({ ids: Type.Array(Type.String()) }), ...ProblemResponses },
        },
      },
      async (request, reply) =>
        reply.code(201).send({ ids: await catalog.createMany(request.body.products) }),
    );

    app.get(
      '/products',
      {
        config: { access: 'public' },
        schema: {
          tags: ['catalog'],
          summary: 'Products in id order, a page at a time (stock lags by at most 1 s)',
          querystring: PageQuery,
          response: {
            200: Type.Object({ items: Type.Array(ProductSummary), nextCursor: Type.Optional(Type.String()) }),
            ...ProblemResponses,
          },
        },
      },
      async (request) => {
        const { cursor, limit } = request.query;
        const rows = await catalog.page(decodeCursor(cursor), limit);
        const page = pageOf(rows, limit);
        return {
          items: page.items.map((p) => ({ id: p.id, name: p.name, price: p.price, stock: p.stock })),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );

    app.get(
      '/products/:productId',
      {
        config: { access: 'public' },
        schema: {
          tags: ['catalog'],
          summary: 'One product (stock lags by at most 1 s)',
          params: Type.Object({ productId: IdParam }),
          response: { 200: Product, ...ProblemResponses },
        },
      },
      async (request) => {
        const { productId } = request.params;
        const row = isId(productId) ? await catalog.get(productId) : null;
        if (!row) throw appError('NOT_FOUND', `no product ${productId}`);
        return view(row);
      },
    );
  };
