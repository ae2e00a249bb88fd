import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { IdParam, isId, ProblemResponses, Text } from '../../http/schemas.js';
import type { CouponRow } from './repository.js';
import type { CouponsService } from './service.js';

const Discount = Type.Object(
  {
    type: Type.Union([Type.Literal('AMOUNT'), Type.Literal('PERCENT')]),
    value: Type.Integer({ minimum: 1, maximum: 1_000_000_000 }),
  },
  { additionalProperties: false },
);

const Coupon = Type.Object({
  id: Type.String(),
  name: Type.String(),
  discount: Discount,
  quantity: Type.Integer(),
  startsAt: Type.String({ format: 'date-time' }),
  endsAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  validDays: Type.Optional(Type.Union([Type.Integer(), Type.Null()])),
  waitingRoomId: Type.Union([Type.String(), Type.Null()]),
});

const CouponWithRemaining = Type.Intersect([Coupon, Type.Object({ remaining: Type.Integer() })]);

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
            },
            { additionalProperties: false },
          ),
          response: { 201: Coupon, ...ProblemResponses },
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
          response: { 200: CouponWithRemaining, ...ProblemResponses },
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
          response: {
            201: Type.Object({
              userCouponId: Type.String(),
              couponId: Type.String(),
              status: Type.Literal('ISSUED'),
              expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
            }),
            ...ProblemResponses,
          },
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
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({
                  userCouponId: Type.String(),
                  couponId: Type.String(),
                  name: Type.String(),
                  discount: Discount,
                  status: Type.Union([
                    Type.Literal('AVAILABLE'),
                    Type.Literal('USED'),
                    Type.Literal('EXPIRED'),
                  ]),
                  issuedAt: Type.String({ format: 'date-time' }),
                  expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
                }),
              ),
            }),
            ...ProblemResponses,
          },
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
