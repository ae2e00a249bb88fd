import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { IdParam, isId, ProblemResponses, Text } from '../../http/schemas.js';
import type { EntryStreams } from './events.js';
import type { RoomRow, RoomSettings } from './repository.js';
import type { WaitingRoomsService } from './service.js';

const Settings = {
  name: Text({ max: 200 }),
  maxActive: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  admitPerSecond: Type.Integer({ minimum: 1, maximum: 100_000 }),
  passTtlSeconds: Type.Integer({ minimum: 10, maximum: 86_400 }),
  idleTimeoutSeconds: Type.Integer({ minimum: 5, maximum: 3_600 }),
  opensAt: Type.String({ format: 'date-time' }),
};

const Room = Type.Object({
  id: Type.String(),
  name: Type.String(),
  maxActive: Type.Union([Type.Integer(), Type.Null()]),
  admitPerSecond: Type.Union([Type.Integer(), Type.Null()]),
  passTtlSeconds: Type.Integer(),
  idleTimeoutSeconds: Type.Integer(),
  opensAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  paused: Type.Boolean(),
});

const RoomStatus = Type.Intersect([
  Room,
  Type.Object({
    waiting: Type.Integer(),
    active: Type.Integer(),
    admittedTotal: Type.Integer(),
    admitRate: Type.Number({ description: 'admissions per second over the last 10 s' }),
  }),
]);

const Entry = Type.Object({
  status: Type.Union([
    Type.Literal('WAITING'),
    Type.Literal('ADMITTED'),
    Type.Literal('EXPIRED'),
    Type.Literal('DONE'),
  ]),
  position: Type.Union([Type.Integer(), Type.Null()], {
    description: 'place in line (1 = next); null before the opening',
  }),
  ahead: Type.Integer(),
  estimatedWaitSeconds: Type.Union([Type.Integer(), Type.Null()]),
  joinedAt: Type.String({ format: 'date-time' }),
  pass: Type.Optional(Type.String({ description: 'send it as X-Waiting-Room-Pass' })),
  passExpiresAt: Type.Optional(Type.String({ format: 'date-time' })),
});

const Params = Type.Object({ roomId: IdParam });

function view(r: RoomRow) {
  return {
    id: r.id,
    name: r.name,
    maxActive: r.maxActive,
    admitPerSecond: r.admitPerSecond,
    passTtlSeconds: r.passTtlSeconds,
    idleTimeoutSeconds: r.idleTimeoutSeconds,
    opensAt: r.opensAt?.toISOString() ?? null,
    paused: r.paused,
  };
}

function roomId(raw: string): string {
  if (!isId(raw)) throw appError('NOT_FOUND', `no waiting room ${raw.slice(0, 40)}`);
  return raw;
}

export const waitingRoomsRoutes =
  (rooms: WaitingRoomsService, streams: EntryStreams): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/admin/waiting-rooms',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'waiting rooms'],
          summary: 'Create a waiting room (needs maxActive or admitPerSecond, or both)',
          body: Type.Object(
            {
              name: Settings.name,
              maxActive: Type.Optional(Settings.maxActive),
              admitPerSecond: Type.Optional(Settings.admitPerSecond),
              passTtlSeconds: Type.Optional(Settings.passTtlSeconds),
              idleTimeoutSeconds: Type.Optional(Settings.idleTimeoutSeconds),
              opensAt: Type.Optional(Settings.opensAt),
            },
            { additionalProperties: false },
          ),
          response: { 201: Room, ...ProblemResponses },
        },
      },
      async (request, reply) => {
        const b = request.body;
        if (b.maxActive === undefined && b.admitPerSecond === undefined)
          throw appError('VALIDATION_FAILED', 'body needs maxActive or admitPerSecond (or both)');
        const settings: RoomSettings = {
          name: b.name,
          maxActive: b.maxActive ?? null,
          admitPerSecond: b.admitPerSecond ?? null,
          passTtlSeconds: b.passTtlSeconds ?? 300,
          idleTimeoutSeconds: b.idleTimeoutSeconds ?? 60,
          opensAt: b.opensAt ? new Date(b.opensAt) : null,
          paused: false,
        };
        return reply.code(201).send(view(await rooms.create(settings)));
      },
    );

    app.patch(
      '/admin/waiting-rooms/:roomId',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'waiting rooms'],
          summary: 'Change any setting of a room, or pause it',
          params: Params,
          body: Type.Object(
            {
              name: Type.Optional(Settings.name),
              maxActive: Type.Optional(Type.Union([Settings.maxActive, Type.Null()])),
              admitPerSecond: Type.Optional(Type.Union([Settings.admitPerSecond, Type.Null()])),
              passTtlSeconds: Type.Optional(Settings.passTtlSeconds),
              idleTimeoutSeconds: Type.Optional(Settings.idleTimeoutSeconds),
              opensAt: Type.Optional(Type.Union([Settings.opensAt, Type.Null()])),
              paused: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: Room, ...ProblemResponses },
        },
      },
      async (request) => {
        const { opensAt, ...rest } = request.body;
        const patch: Partial<RoomSettings> = { ...rest };
        if (opensAt !== undefined) patch.opensAt = opensAt === null ? null : new Date(opensAt);
        return view(await rooms.update(roomId(request.params.roomId), patch));
      },
    );

    app.get(
      '/waiting-rooms/:roomId',
      {
        config: { access: 'public' },
        schema: {
          tags: ['waiting rooms'],
          summary: 'A room: its settings and how many wait, are active and were admitted',
          params: Params,
          response: { 200: RoomStatus, ...ProblemResponses },
        },
      },
      async (request) => rooms.view(roomId(request.params.roomId)),
    );

    app.post(
      '/waiting-rooms/:roomId/entries',
      {
        config: { access: 'user' },
        schema: {
          tags: ['waiting rooms'],
          summary: 'Join the line: 201 with a new entry, 200 with the one you have (one per user and room)',
          params: Params,
          response: { 200: Entry, 201: Entry, ...ProblemResponses },
        },
      },
      async (request, reply) => {
        const r = await rooms.join(roomId(request.params.roomId), userOf(request).id);
        return reply.code(r.created ? 201 : 200).send(r.entry);
      },
    );

    app.get(
      '/waiting-rooms/:roomId/entries/me',
      {
        config: { access: 'user' },
        schema: {
          tags: ['waiting rooms'],
          summary:
            'Your entry: place, people ahead, estimated wait, and the pass once admitted (also a heartbeat)',
          params: Params,
          response: { 200: Entry, ...ProblemResponses },
        },
      },
      async (request) => rooms.entry(roomId(request.params.roomId), userOf(request).id),
    );

    app.get(
      '/waiting-rooms/:roomId/entries/me/events',
      {
        config: { access: 'user', tokenInQuery: true, stream: true },
        schema: {
          tags: ['waiting rooms'],
          summary:
            'Your entry as Server-Sent Events: `position` (on change, at least every 5 s), `admitted` (with the pass), `expired`. An open stream is a heartbeat. The token may be sent as ?access_token=',
          params: Params,
          querystring: Type.Object({ access_token: Type.Optional(Type.String({ maxLength: 4096 })) }),
        },
      },
      async (request, reply) => {
        const id = roomId(request.params.roomId);
        const user = userOf(request);
        const first = await rooms.entry(id, user.id); // 404 before the stream starts
        const stream = app.streams.start(request, reply, { retryMs: 2_000 });
        streams.watch(id, user.id, stream, first);
      },
    );

    app.delete(
      '/waiting-rooms/:roomId/entries/me',
      {
        config: { access: 'user' },
        schema: {
          tags: ['waiting rooms'],
          summary: 'Leave the room: your place (or your active slot) is freed',
          params: Params,
          response: { 204: Type.Null(), ...ProblemResponses },
        },
      },
      async (request, reply) => {
        await rooms.leave(roomId(request.params.roomId), userOf(request).id);
        return reply.code(204).send(null);
      },
    );
  };
