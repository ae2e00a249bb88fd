import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { IdParam, isId, PageQuery, RunTag, Text } from '../../http/schemas.js';
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

const Product = named(
  'Product',
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    price: Type.Integer({ description: 'points' }),
    stock: Type.Integer({ description: 'units left; reads lag by at most 1 s' }),
    description: Type.Union([Type.String(), Type.Null()]),
  }),
  {
    description: 'A product, bought with points',
    example: { id: '1', name: 'Limited sneaker', price: 12000, stock: 3, description: 'Size 42' },
  },
);

const ProductSummary = named(
  'ProductSummary',
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    price: Type.Integer(),
    stock: Type.Integer(),
  }),
  {
    description: 'A product in a list',
    example: { id: '1', name: 'Limited sneaker', price: 12000, stock: 3 },
  },
);

const PRODUCT_INPUT_EXAMPLE = { name: 'Limited sneaker', price: 12000, stock: 3, description: 'Size 42' };

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
          body: Type.Object(
            { ...ProductInput.properties, runTag: Type.Optional(RunTag) },
            { additionalProperties: false, examples: [PRODUCT_INPUT_EXAMPLE] },
          ),
          response: responses({ 201: Product.answer('Created') }),
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
            {
              products: Type.Array(ProductInput, { minItems: 1, maxItems: 10_000 }),
              runTag: Type.Optional(RunTag),
            },
            {
              additionalProperties: false,
              examples: [
                {
                  products: [
                    { name: 'A', price: 100, stock: 10 },
                    { name: 'B', price: 250, stock: 5 },
                  ],
                },
              ],
            },
          ),
          response: responses({
            201: Type.Object(
              { ids: Type.Array(Type.String()) },
              { description: 'Created, all or none; ids in input order', examples: [{ ids: ['2', '3'] }] },
            ),
          }),
        },
      },
      async (request, reply) => {
        const { products, runTag } = request.body;
        const ids = await catalog.createMany(runTag ? products.map((p) => ({ ...p, runTag })) : products);
        return reply.code(201).send({ ids });
      },
    );

    app.get(
      '/products',
      {
        config: { access: 'public' },
        schema: {
          tags: ['catalog'],
          summary: 'Products in id order, a page at a time (stock lags by at most 1 s)',
          querystring: PageQuery,
          response: responses(
            {
              200: pageSchema(ProductSummary.ref, 'in id order'),
            },
            { VALIDATION_FAILED: '`limit` outside 1..100, or a `cursor` this API did not hand out' },
          ),
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
          response: responses({ 200: Product.answer('The product') }, { NOT_FOUND: 'no such product' }),
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
