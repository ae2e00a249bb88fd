import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { IdParam, IdText, PageQuery, Text } from '../../http/schemas.js';
import { IdempotencyHeaders, requestHash } from '../idempotency/service.js';
import type { ConcertRow, ReservationRow, ScheduleRow } from './repository.js';
import { type ConcertsService, MAX_HELD_SEATS, RESERVATIONS_ROUTE } from './service.js';

const ScheduleFields = {
  id: Type.String(),
  startsAt: Type.String({ format: 'date-time' }),
  seatCount: Type.Integer(),
  price: Type.Integer({ description: 'points per seat' }),
};

const SCHEDULE_EXAMPLE = { id: '1', startsAt: '2027-06-01T19:00:00.000Z', seatCount: 50, price: 1500 };

const Schedule = named('ConcertSchedule', Type.Object(ScheduleFields), {
  description: 'A performance of a concert: its seats are numbered 1..seatCount, all at one price',
  example: SCHEDULE_EXAMPLE,
});

const ScheduleWithAvailability = named(
  'ConcertScheduleAvailability',
  Type.Object({
    ...ScheduleFields,
    availableSeats: Type.Integer({ description: 'seats neither sold nor under a live hold' }),
  }),
  {
    description: 'A schedule and how many of its seats are free to hold now',
    example: { ...SCHEDULE_EXAMPLE, availableSeats: 42 },
  },
);

const Concert = named(
  'Concert',
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    venue: Type.Union([Type.String(), Type.Null()]),
    waitingRoomId: Type.Union([Type.String(), Type.Null()]),
    schedules: Type.Array(Schedule.ref),
  }),
  {
    description: 'A concert and its schedules',
    example: {
      id: '1',
      name: 'Summer night',
      venue: 'Hall A',
      waitingRoomId: null,
      schedules: [SCHEDULE_EXAMPLE],
    },
  },
);

const SeatMap = named(
  'SeatMap',
  Type.Object({
    scheduleId: Type.String(),
    items: Type.Array(
      Type.Object({
        number: Type.Integer(),
        status: Type.Union([Type.Literal('AVAILABLE'), Type.Literal('HELD'), Type.Literal('SOLD')]),
        price: Type.Integer(),
      }),
    ),
  }),
  {
    description: 'Every seat of a schedule by number, at most a second old (the hold decides)',
    example: {
      scheduleId: '1',
      items: [
        { number: 1, status: 'SOLD', price: 1500 },
        { number: 2, status: 'HELD', price: 1500 },
        { number: 3, status: 'AVAILABLE', price: 1500 },
      ],
    },
  },
);

const Hold = named(
  'SeatHold',
  Type.Object({
    reservationId: Type.String(),
    scheduleId: Type.String(),
    seats: Type.Array(Type.Integer()),
    status: Type.Literal('HELD'),
    total: Type.Integer(),
    expiresAt: Type.String({ format: 'date-time' }),
  }),
  {
    description: 'Seats held for the caller until expiresAt, committed',
    example: {
      reservationId: '7',
      scheduleId: '1',
      seats: [4, 5],
      status: 'HELD',
      total: 3000,
      expiresAt: '2027-05-20T10:05:00.000Z',
    },
  },
);

const Paid = named(
  'PaidReservation',
  Type.Object({
    reservationId: Type.String(),
    status: Type.Literal('PAID'),
    seats: Type.Array(Type.Integer()),
    total: Type.Integer(),
    balanceAfter: Type.Integer(),
    paidAt: Type.String({ format: 'date-time' }),
  }),
  {
    description: 'A paid reservation: its seats are sold and the points used, committed',
    example: {
      reservationId: '7',
      status: 'PAID',
      seats: [4, 5],
      total: 3000,
      balanceAfter: 2000,
      paidAt: '2027-05-20T10:01:12.000Z',
    },
  },
);

const SeatNumber = Type.Integer({ minimum: 1, maximum: 1000 });

const ReservationFields = {
  reservationId: Type.String(),
  concertId: Type.String(),
  scheduleId: Type.String(),
  seats: Type.Array(Type.Integer()),
  status: Type.Union([
    Type.Literal('HELD'),
    Type.Literal('PAID'),
    Type.Literal('EXPIRED'),
    Type.Literal('CANCELLED'),
  ]),
  total: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  paidAt: Type.Optional(Type.String({ format: 'date-time' })),
  balanceAfter: Type.Optional(Type.Integer({ description: 'point balance right after the payment' })),
};

const Reservation = named('Reservation', Type.Object(ReservationFields), {
  description: "One of the caller's reservations; a hold past expiresAt reads EXPIRED",
  example: {
    reservationId: '7',
    concertId: '1',
    scheduleId: '1',
    seats: [4, 5],
    status: 'PAID',
    total: 3000,
    createdAt: '2027-05-20T10:00:00.000Z',
    expiresAt: '2027-05-20T10:05:00.000Z',
    paidAt: '2027-05-20T10:01:12.000Z',
    balanceAfter: 2000,
  },
});

const PassHeader = Type.Optional(
  Type.String({
    maxLength: 512,
    description: 'the pass of the waiting room in front of a protected concert',
  }),
);

const ReservationParams = Type.Object({ reservationId: IdParam });

const NO_CONCERT = 'no such concert (or an id that is not one)';
const NO_RESERVATION = "no such reservation, or someone else's";

function scheduleView(s: ScheduleRow) {
  return { id: s.id, startsAt: s.startsAt.toISOString(), seatCount: s.seatCount, price: s.price };
}

function concertView(c: ConcertRow) {
  return {
    id: c.id,
    name: c.name,
    venue: c.venue,
    waitingRoomId: c.waitingRoomId,
    schedules: c.schedules.map(scheduleView),
  };
}

function reservationView(r: ReservationRow) {
  return {
    reservationId: r.id,
    concertId: r.concertId,
    scheduleId: r.scheduleId,
    seats: r.seats,
    status: r.status,
    total: r.total,
    createdAt: r.createdAt.toISOString(),
    expiresAt: r.expiresAt.toISOString(),
    ...(r.paidAt ? { paidAt: r.paidAt.toISOString() } : {}),
    ...(r.balanceAfter !== null ? { balanceAfter: r.balanceAfter } : {}),
  };
}

/** True when an If-None-Match header names this ETag (or is `*`); weak tags compare by value. */
function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  return ifNoneMatch.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}

export const concertsRoutes =
  (concerts: ConcertsService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/admin/concerts',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'concerts'],
          summary: 'Create a concert with its schedules (and every schedule’s seats)',
          body: Type.Object(
            {
              name: Text({ max: 200 }),
              venue: Type.Optional(Text({ max: 200 })),
              waitingRoomId: Type.Optional(
                Type.String({
                  pattern: '^[1-9][0-9]{0,17}$',
                  description: 'holding seats then needs a pass of this room',
                }),
              ),
              schedules: Type.Array(
                Type.Object(
                  {
                    startsAt: Type.String({ format: 'date-time' }),
                    seatCount: Type.Optional(
                      Type.Integer({ minimum: 1, maximum: 1000, description: 'default 50' }),
                    ),
                    price: Type.Integer({ minimum: 0, maximum: 10_000_000, description: 'points per seat' }),
                  },
                  { additionalProperties: false },
                ),
                { minItems: 1, maxItems: 100 },
              ),
            },
            {
              additionalProperties: false,
              examples: [
                {
                  name: 'Summer night',
                  venue: 'Hall A',
                  schedules: [{ startsAt: '2027-06-01T19:00:00Z', seatCount: 50, price: 1500 }],
                },
              ],
            },
          ),
          response: responses(
            { 201: Concert.answer('Created, with every schedule and its seats') },
            {
              VALIDATION_FAILED:
                'the body does not match the schema, a startsAt is not a date-time, or waitingRoomId names no room',
            },
          ),
        },
      },
      async (request, reply) => {
        const b = request.body;
        const schedules = b.schedules.map((s, i) => {
          const startsAt = new Date(s.startsAt);
          if (Number.isNaN(startsAt.getTime()))
            throw appError('VALIDATION_FAILED', `body.schedules.${i}.startsAt must be an ISO-8601 date-time`);
          return { startsAt, seatCount: s.seatCount ?? 50, price: s.price };
        });
        const row = await concerts.create({
          name: b.name,
          venue: b.venue ?? null,
          waitingRoomId: b.waitingRoomId ?? null,
          schedules,
        });
        return reply.code(201).send(concertView(row));
      },
    );

    app.get(
      '/concerts',
      {
        config: { access: 'public' },
        schema: {
          tags: ['concerts'],
          summary: 'Concerts with their schedules, oldest first',
          querystring: PageQuery,
          response: responses(
            {
              200: pageSchema(Concert.ref, 'oldest first'),
            },
            { VALIDATION_FAILED: 'a limit out of 1..100, or a cursor this API did not hand out' },
          ),
        },
      },
      async (request) => {
        const { cursor, limit } = request.query;
        const page = pageOf(await concerts.list(decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map(concertView),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );

    app.get(
      '/concerts/:concertId',
      {
        config: { access: 'public' },
        schema: {
          tags: ['concerts'],
          summary: 'A concert with its schedules',
          params: Type.Object({ concertId: IdParam }),
          response: responses({ 200: Concert.answer('The concert') }, { NOT_FOUND: NO_CONCERT }),
        },
      },
      async (request) => concertView(await concerts.get(request.params.concertId)),
    );

    app.get(
      '/concerts/:concertId/schedules',
      {
        config: { access: 'public' },
        schema: {
          tags: ['concerts'],
          summary: 'A concert’s schedules with the seats free to hold now',
          params: Type.Object({ concertId: IdParam }),
          response: responses(
            {
              200: Type.Object(
                { items: Type.Array(ScheduleWithAvailability.ref) },
                { description: "The concert's schedules" },
              ),
            },
            { NOT_FOUND: NO_CONCERT },
          ),
        },
      },
      async (request) => {
        const items = await concerts.schedules(request.params.concertId);
        return { items: items.map((s) => ({ ...scheduleView(s), availableSeats: s.availableSeats })) };
      },
    );

    app.get(
      '/schedules/:scheduleId/seats',
      {
        config: { access: 'public' },
        schema: {
          tags: ['concerts'],
          summary: 'The seat map (at most a second old; the hold decides). ETag, 304 on If-None-Match',
          params: Type.Object({ scheduleId: IdParam }),
          headers: Type.Object({ 'if-none-match': Type.Optional(Type.String({ maxLength: 1024 })) }),
          response: responses(
            {
              200: SeatMap.answer('The seat map, with its ETag'),
              304: Type.Unsafe<undefined>({
                description: 'Not modified: the map is the one named by If-None-Match',
              }),
            },
            { NOT_FOUND: 'no such schedule' },
          ),
        },
      },
      async (request, reply) => {
        const map = await concerts.seatMap(request.params.scheduleId);
        reply.header('etag', map.etag).header('cache-control', 'no-cache');
        if (matches(request.headers['if-none-match'], map.etag)) return reply.code(304).send(undefined);
        return { scheduleId: map.scheduleId, items: map.items };
      },
    );

    app.post(
      '/reservations',
      {
        config: { access: 'user' },
        schema: {
          tags: ['concerts'],
          summary: 'Hold 1 to 4 seats of a schedule (all or none); 201 only once the hold is committed',
          description:
            '409 SEAT_UNAVAILABLE (detail names the seats) · 409 HOLD_LIMIT · 404 NOT_FOUND · 403 NOT_ADMITTED / PASS_EXPIRED · ' +
            '400 VALIDATION_FAILED · 422 IDEMPOTENCY_KEY_REUSED · 409 IDEMPOTENCY_IN_PROGRESS · 503 UNAVAILABLE',
          headers: Type.Object({ ...IdempotencyHeaders.properties, 'x-waiting-room-pass': PassHeader }),
          body: Type.Object(
            {
              scheduleId: IdText,
              seats: Type.Array(SeatNumber, {
                minItems: 1,
                maxItems: MAX_HELD_SEATS,
                uniqueItems: true,
                description: '1 to 4 distinct seat numbers',
              }),
            },
            { additionalProperties: false, examples: [{ scheduleId: '1', seats: [4, 5] }] },
          ),
          response: responses(
            { 201: Hold.answer('Held (or the same answer again for a replayed Idempotency-Key)') },
            {
              VALIDATION_FAILED:
                'no seat, more than 4, a repeated seat, or a seat above the schedule’s seatCount; `detail` names the field',
              NOT_FOUND: 'no such schedule',
              NOT_ADMITTED:
                'the concert is behind a waiting room and the pass is missing, forged, another user’s or used',
              PASS_EXPIRED: 'the waiting-room pass has expired',
              SEAT_UNAVAILABLE:
                'a seat is sold or under another live hold (`detail` names the seats); nothing was held',
              HOLD_LIMIT: 'the caller’s live held seats in this schedule would exceed 4',
              IDEMPOTENCY_KEY_REUSED: 'this Idempotency-Key was used with another request',
              IDEMPOTENCY_IN_PROGRESS:
                'a request with this Idempotency-Key is still running; retry after Retry-After',
              UNAVAILABLE: 'the hold could not be made durable; nothing was held, retry after Retry-After',
            },
          ),
        },
      },
      async (request, reply) => {
        const user = userOf(request);
        const key = request.headers['idempotency-key'];
        const idem = key ? { key, requestHash: requestHash('POST', RESERVATIONS_ROUTE, request.body) } : null;
        const pass = request.headers['x-waiting-room-pass'];
        const answer = await concerts.hold(
          user.id,
          request.body,
          typeof pass === 'string' ? pass : undefined,
          idem,
        );
        if (answer.replayed) reply.header('idempotent-replayed', 'true');
        return reply.code(answer.status).send(answer.body as never);
      },
    );

    app.post(
      '/reservations/:reservationId/pay',
      {
        config: { access: 'user' },
        schema: {
          tags: ['concerts'],
          summary: 'Pay a live hold with points: the seats are sold and the points used together, or nothing',
          description:
            '410 HOLD_EXPIRED · 402 INSUFFICIENT_POINTS · 409 ALREADY_PAID · 404 NOT_FOUND (also for another user’s) · ' +
            '422 IDEMPOTENCY_KEY_REUSED · 409 IDEMPOTENCY_IN_PROGRESS',
          params: ReservationParams,
          headers: IdempotencyHeaders,
          response: responses(
            { 200: Paid.answer('Paid (or the same answer again for a replayed Idempotency-Key)') },
            {
              NOT_FOUND: NO_RESERVATION,
              HOLD_EXPIRED: 'the hold’s expiresAt has passed, or it was cancelled; nothing was paid',
              INSUFFICIENT_POINTS: 'the balance is below the total; the hold stays until it expires',
              ALREADY_PAID: 'the reservation is paid already',
              IDEMPOTENCY_KEY_REUSED: 'this Idempotency-Key was used with another request',
              IDEMPOTENCY_IN_PROGRESS:
                'a request with this Idempotency-Key is still running; retry after Retry-After',
            },
          ),
        },
      },
      async (request, reply) => {
        const user = userOf(request);
        const { reservationId } = request.params;
        const key = request.headers['idempotency-key'];
        const route = `/api/v1/reservations/${reservationId}/pay`;
        const idem = key ? { key, requestHash: requestHash('POST', route, {}) } : null;
        const answer = await concerts.pay(reservationId, user.id, idem);
        if (answer.replayed) reply.header('idempotent-replayed', 'true');
        return reply.code(answer.status).send(answer.body as never);
      },
    );

    app.delete(
      '/reservations/:reservationId',
      {
        config: { access: 'user' },
        schema: {
          tags: ['concerts'],
          summary: 'Release a hold (a hold already ended is left as it is); 409 ALREADY_PAID',
          params: ReservationParams,
          response: responses(
            { 204: Type.Null({ description: 'Released (or already ended)' }) },
            { NOT_FOUND: NO_RESERVATION, ALREADY_PAID: 'the reservation is paid: it cannot be released' },
          ),
        },
      },
      async (request, reply) => {
        const user = userOf(request);
        await concerts.cancel(request.params.reservationId, user.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/reservations/:reservationId',
      {
        config: { access: 'user' },
        schema: {
          tags: ['concerts'],
          summary: "One of the user's reservations (anyone else's is 404)",
          params: ReservationParams,
          response: responses(
            { 200: Reservation.answer("The caller's reservation") },
            { NOT_FOUND: NO_RESERVATION },
          ),
        },
      },
      async (request) => {
        const user = userOf(request);
        return reservationView(await concerts.reservation(request.params.reservationId, user.id));
      },
    );

    app.get(
      '/me/reservations',
      {
        config: { access: 'user' },
        schema: {
          tags: ['concerts'],
          summary: "The user's reservations, newest first",
          querystring: PageQuery,
          response: responses(
            {
              200: pageSchema(Reservation.ref, 'newest first'),
            },
            { VALIDATION_FAILED: 'a limit out of 1..100, or a cursor this API did not hand out' },
          ),
        },
      },
      async (request) => {
        const user = userOf(request);
        const { cursor, limit } = request.query;
        const page = pageOf(await concerts.listForUser(user.id, decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map(reservationView),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );
  };
