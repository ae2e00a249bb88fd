import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { IdParam, isId, PageQuery, RunTag, Text } from '../../http/schemas.js';
import type { CouponRow } from './repository.js';
import type { CouponsService } from './service.js';

const Discount = Type.Object(
  {
    type: Type.Union([Type.Literal('AMOUNT'), Type.Literal('PERCENT')]),
    value: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  },
  { additionalProperties: false },
);

const CouponFields = {
  id: Type.String(),
  name: Type.String(),
  discount: Discount,
  quantity: Type.Integer(),
  startsAt: Type.String({ format: 'date-time' }),
  endsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  validDays: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  waitingRoomId: Type.Union([Type.String(), Type.Null()]),
};

const COUPON_EXAMPLE = {
  id: '1',
  name: 'Black Friday 10%',
  discount: { type: 'PERCENT' as const, value: 10 },
  quantity: 100,
  startsAt: '2026-11-28T00:00:00.000Z',
  endsAt: '2026-11-29T00:00:00.000Z',
  validDays: 30,
  waitingRoomId: null,
};

const Coupon = named('Coupon', Type.Object(CouponFields), {
  description: 'An FCFS coupon drop',
  example: COUPON_EXAMPLE,
});

const CouponWithRemaining = named(
  'CouponWithRemaining',
  Type.Object({
    ...CouponFields,
    remaining: Type.Integer({ description: 'units left; may lag by up to a second' }),
  }),
  { description: 'An FCFS coupon drop and how many are left', example: { ...COUPON_EXAMPLE, remaining: 99 } },
);

const CouponListItem = named(
  'CouponListItem',
  Type.Object({
    ...CouponFields,
    remaining: Type.Integer({ description: 'units left, as PostgreSQL has them when the page is read' }),
    createdAt: Type.String({ format: 'date-time' }),
    runTag: Type.Union([Type.String(), Type.Null()], {
      description: 'the rehearsal that created it, if any',
    }),
  }),
  {
    description: 'An FCFS coupon drop in the admin list',
    example: { ...COUPON_EXAMPLE, remaining: 99, createdAt: '2026-11-27T22:00:00.000Z', runTag: null },
  },
);

const IssuedCoupon = named(
  'IssuedCoupon',
  Type.Object({
    userCouponId: Type.String(),
    couponId: Type.String(),
    status: Type.Literal('ISSUED'),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  }),
  {
    description: 'A unit of a drop, issued to the caller and committed',
    example: { userCouponId: '7', couponId: '1', status: 'ISSUED', expiresAt: '2026-12-28T00:00:03.000Z' },
  },
);

const HeldCoupon = named(
  'HeldCoupon',
  Type.Object({
    userCouponId: Type.String(),
    couponId: Type.String(),
    name: Type.String(),
    discount: Discount,
    status: Type.Union([Type.Literal('AVAILABLE'), Type.Literal('USED'), Type.Literal('EXPIRED')]),
    issuedAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  }),
  {
    description: 'A coupon the user holds',
    example: {
      userCouponId: '7',
      couponId: '1',
      name: 'Black Friday 10%',
      discount: { type: 'PERCENT', value: 10 },
      status: 'AVAILABLE',
      issuedAt: '2026-11-28T00:00:03.000Z',
      expiresAt: '2026-12-28T00:00:03.000Z',
    },
  },
);

const NO_COUPON = 'no such coupon (or an id that is not one)';

const Params = Type.Object({ couponId: IdParam });

function view(c: CouponRow) {
  return {
    id: c.id,
    name: c.name,
    discount: { type: c.discountType, value: c.discountValue },
    quantity: c.quantity,
    startsAt: c.startsAt.toISOString(),
    endsAt: c.endsAt ? c.endsAt.toISOString() : null,
    validDays: c.validDays,
    waitingRoomId: c.waitingRoomId,
  };
}

function parseTime(field: string, v: string | undefined): Date | null {
  if (v === undefined) return null;
  const d = new Date(v);
  if (Number.isNaN(d.getTime()))
    throw appError('VALIDATION_FAILED', `body.${field} must be an ISO-8601 date-time`);
  return d;
}

export const couponsRoutes =
  (coupons: CouponsService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/admin/coupons',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'coupons'],
          summary: 'Every coupon drop in id order, a page at a time, with how many are left',
          querystring: PageQuery,
          response: responses(
            {
              200: pageSchema(CouponListItem.ref, 'in id order'),
            },
            { VALIDATION_FAILED: '`limit` outside 1..100, or a `cursor` this API did not hand out' },
          ),
        },
      },
      async (request) => {
        const { cursor, limit } = request.query;
        const page = pageOf(await coupons.page(decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map((c) => ({
            ...view(c),
            remaining: c.remaining,
            createdAt: c.createdAt.toISOString(),
            runTag: c.runTag,
          })),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );

    app.post(
      '/admin/coupons',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'coupons'],
          summary: 'Create an FCFS coupon drop',
          body: Type.Object(
            {
              name: Text({ max: 200 }),
              discount: Discount,
              quantity: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
              startsAt: Type.Optional(Type.String({ format: 'date-time' })),
              endsAt: Type.Optional(Type.String({ format: 'date-time' })),
              validDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
              waitingRoomId: Type.Optional(
                Type.String({
                  pattern: '^[1-9][0-9]{0,17}$',
                  description: 'issuing then needs a pass of this room',
                }),
              ),
              runTag: Type.Optional(RunTag),
            },
            {
              additionalProperties: false,
              examples: [
                {
                  name: 'Black Friday 10%',
                  discount: { type: 'PERCENT', value: 10 },
                  quantity: 100,
                  startsAt: '2026-11-28T00:00:00Z',
                  endsAt: '2026-11-29T00:00:00Z',
                  validDays: 30,
                },
              ],
            },
          ),
          response: responses(
            { 201: Coupon.answer('Created') },
            {
              VALIDATION_FAILED:
                'the body does not match the schema, a PERCENT discount above 100, `endsAt` not after `startsAt` (or now), or no such `waitingRoomId`',
            },
          ),
        },
      },
      async (request, reply) => {
        const b = request.body;
        if (b.discount.type === 'PERCENT' && b.discount.value > 100) {
          throw appError(
            'VALIDATION_FAILED',
            'body.discount.value must be at most 100 for a PERCENT discount',
          );
        }
        const startsAt = parseTime('startsAt', b.startsAt);
        const endsAt = parseTime('endsAt', b.endsAt);
        if (endsAt && endsAt.getTime() <= (startsAt ?? new Date()).getTime()) {
          throw appError('VALIDATION_FAILED', 'body.endsAt must be after startsAt (or after now)');
        }
        const row = await coupons.create({
          name: b.name,
          discountType: b.discount.type,
          discountValue: b.discount.value,
          quantity: b.quantity,
          startsAt,
          endsAt,
          validDays: b.validDays ?? null,
          waitingRoomId: b.waitingRoomId ?? null,
          runTag: b.runTag ?? null,
        });
        return reply.code(201).send(view(row));
      },
    );

    app.get(
      '/coupons/:couponId',
      {
        config: { access: 'public' },
        schema: {
          tags: ['coupons'],
          summary: 'A coupon drop and how many are left (lags by at most 250 ms)',
          params: Params,
          response: responses({ 200: CouponWithRemaining.answer('The drop') }, { NOT_FOUND: NO_COUPON }),
        },
      },
      async (request) => {
        const { couponId } = request.params;
        if (!isId(couponId)) throw appError('NOT_FOUND', `no coupon ${couponId}`);
        const c = await coupons.get(couponId);
        return { ...view(c), remaining: c.remaining };
      },
    );

    app.post(
      '/coupons/:couponId/issue',
      {
        config: { access: 'user' },
        schema: {
          tags: ['coupons'],
          summary: 'Claim one unit of an FCFS coupon; 201 only once it is committed',
          params: Params,
          headers: Type.Object({
            'x-waiting-room-pass': Type.Optional(
              Type.String({
                maxLength: 512,
                description: 'the pass of the waiting room in front of a protected drop',
              }),
            ),
          }),
          response: responses(
            { 201: IssuedCoupon.answer('Issued: the user coupon is committed') },
            {
              NOT_FOUND: NO_COUPON,
              NOT_OPEN: 'before `startsAt`, or at/after `endsAt` (`detail` gives the window)',
              NOT_ADMITTED:
                "the drop is behind a waiting room and `X-Waiting-Room-Pass` is missing, forged, another user's or used",
              PASS_EXPIRED: 'the waiting-room pass has expired',
              ALREADY_ISSUED: 'this user already holds this coupon (safe to retry)',
              SOLD_OUT: 'none left',
              UNAVAILABLE: 'the coupon could not be made durable; nothing was issued, retry',
            },
          ),
        },
      },
      async (request, reply) => {
        const user = userOf(request);
        const { couponId } = request.params;
        if (!isId(couponId)) throw appError('NOT_FOUND', `no coupon ${couponId}`);
        const pass = request.headers['x-waiting-room-pass'];
        const issued = await coupons.issue(couponId, user.id, typeof pass === 'string' ? pass : undefined);
        return reply.code(201).send({
          userCouponId: issued.userCouponId,
          couponId: issued.couponId,
          status: issued.status,
          ...(issued.expiresAt ? { expiresAt: issued.expiresAt.toISOString() } : {}),
        });
      },
    );

    app.get(
      '/me/coupons',
      {
        config: { access: 'user' },
        schema: {
          tags: ['coupons'],
          summary: 'Coupons the user holds',
          response: responses({
            200: Type.Object(
              { items: Type.Array(HeldCoupon.ref) },
              { description: 'Newest first, up to 1,000' },
            ),
          }),
        },
      },
      async (request) => {
        const user = userOf(request);
        const now = Date.now();
        const rows = await coupons.listForUser(user.id);
        return {
          items: rows.map((r) => ({
            userCouponId: r.userCouponId,
            couponId: r.couponId,
            name: r.name,
            discount: { type: r.discountType, value: r.discountValue },
            status:
              r.status === 'AVAILABLE' && r.expiresAt && r.expiresAt.getTime() <= now
                ? ('EXPIRED' as const)
                : r.status,
            issuedAt: r.issuedAt.toISOString(),
            ...(r.expiresAt ? { expiresAt: r.expiresAt.toISOString() } : {}),
          })),
        };
      },
    );
  };
