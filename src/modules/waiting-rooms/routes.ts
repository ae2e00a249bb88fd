import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { IdParam, isId, PageQuery, RunTag, Text } from '../../http/schemas.js';
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

const RoomFields = {
  id: Type.String(),
  name: Type.String(),
  maxActive: Type.Union([Type.Integer(), Type.Null()]),
  admitPerSecond: Type.Union([Type.Integer(), Type.Null()]),
  passTtlSeconds: Type.Integer(),
  idleTimeoutSeconds: Type.Integer(),
  opensAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  paused: Type.Boolean(),
};

const ROOM_EXAMPLE = {
  id: '1',
  name: 'Black Friday line',
  maxActive: 100,
  admitPerSecond: 20,
  passTtlSeconds: 300,
  idleTimeoutSeconds: 60,
  opensAt: null,
  paused: false,
};

const Room = named('WaitingRoom', Type.Object(RoomFields), {
  description: "A waiting room's settings",
  example: ROOM_EXAMPLE,
});

const RoomStatus = named(
  'WaitingRoomStatus',
  Type.Object({
    ...RoomFields,
    waiting: Type.Integer(),
    active: Type.Integer(),
    admittedTotal: Type.Integer(),
    admitRate: Type.Number({ description: 'admissions per second over the last 10 s' }),
  }),
  {
    description: 'A waiting room: its settings and how many wait, are active and were admitted',
    example: { ...ROOM_EXAMPLE, waiting: 1520, active: 100, admittedTotal: 870, admitRate: 19.6 },
  },
);

const RoomListItem = named(
  'WaitingRoomListItem',
  Type.Object({
    ...RoomFields,
    waiting: Type.Union([Type.Integer(), Type.Null()], {
      description: 'entries in line (pre-queue included); null while the room is not loaded in the gate',
    }),
    active: Type.Union([Type.Integer(), Type.Null()], {
      description: 'entries admitted with a live pass; null while the room is not loaded in the gate',
    }),
    createdAt: Type.String({ format: 'date-time' }),
    runTag: Type.Union([Type.String(), Type.Null()], {
      description: 'the rehearsal that created it, if any',
    }),
  }),
  {
    description: 'A waiting room in the admin list',
    example: {
      ...ROOM_EXAMPLE,
      waiting: 1520,
      active: 100,
      createdAt: '2026-11-27T23:00:00.000Z',
      runTag: null,
    },
  },
);

const Entry = named(
  'WaitingRoomEntry',
  Type.Object({
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
  }),
  {
    description: "The caller's entry in a waiting room",
    example: {
      status: 'WAITING',
      position: 12,
      ahead: 11,
      estimatedWaitSeconds: 1,
      joinedAt: '2026-11-28T00:00:01.250Z',
    },
  },
);

const NO_ROOM = 'no such waiting room';
const REBUILDING = "the room's gate is being rebuilt from PostgreSQL; retry shortly";
const NOT_IN_ROOM = 'no such waiting room, or the caller is not in it';

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
    app.get(
      '/admin/waiting-rooms',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['admin', 'waiting rooms'],
          summary: 'Every waiting room in id order, a page at a time, with its waiting and active counts',
          querystring: PageQuery,
          response: responses(
            {
              200: pageSchema(RoomListItem.ref, 'in id order'),
            },
            { VALIDATION_FAILED: '`limit` outside 1..100, or a `cursor` this API did not hand out' },
          ),
        },
      },
      async (request) => {
        const { cursor, limit } = request.query;
        const page = pageOf(await rooms.page(decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map((r) => ({
            ...view(r),
            waiting: r.waiting,
            active: r.active,
            createdAt: r.createdAt.toISOString(),
            runTag: r.runTag ?? null,
          })),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );

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
              runTag: Type.Optional(RunTag),
            },
            {
              additionalProperties: false,
              examples: [{ name: 'Black Friday line', maxActive: 100, admitPerSecond: 20 }],
            },
          ),
          response: responses(
            { 201: Room.answer('Created') },
            {
              VALIDATION_FAILED:
                'the body does not match the schema, or neither maxActive nor admitPerSecond',
            },
          ),
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
          runTag: b.runTag ?? null,
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
            { additionalProperties: false, minProperties: 1, examples: [{ paused: true }] },
          ),
          response: responses(
            { 200: Room.answer('Changed: the settings now') },
            {
              VALIDATION_FAILED:
                'the body does not match the schema (or is empty), or the change would leave neither maxActive nor admitPerSecond',
              NOT_FOUND: NO_ROOM,
            },
          ),
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
          response: responses(
            { 200: RoomStatus.answer('The room') },
            { NOT_FOUND: NO_ROOM, UNAVAILABLE: REBUILDING },
          ),
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
          response: responses(
            {
              200: Entry.answer('Already in: the same entry and place'),
              201: Entry.answer('Joined: a new entry'),
            },
            {
              NOT_FOUND: NO_ROOM,
              UNAVAILABLE: `the join could not be made durable (nothing was kept), or ${REBUILDING}`,
            },
          ),
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
          response: responses(
            { 200: Entry.answer('The entry') },
            { NOT_FOUND: NOT_IN_ROOM, UNAVAILABLE: REBUILDING },
          ),
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
            'Your entry as Server-Sent Events: `position` (on change, at most once a second, and at least every 5 s), `admitted` (with the pass), `expired`. An open stream is a heartbeat. The token may be sent as ?access_token=',
          params: Params,
          querystring: Type.Object({ access_token: Type.Optional(Type.String({ maxLength: 4096 })) }),
          response: responses(
            {
              200: Type.Unsafe<string>({
                description:
                  'A stream of events `position` and `admitted` (data: a WaitingRoomEntry) and `expired`, until the entry ends or the server drains (`shutdown`)',
                content: {
                  'text/event-stream': {
                    schema: Type.String({
                      examples: [
                        'retry: 2000\n\nevent: position\ndata: {"status":"WAITING","position":12,"ahead":11,"estimatedWaitSeconds":1,"joinedAt":"2026-11-28T00:00:01.250Z"}\n\n',
                      ],
                    }),
                  },
                },
              }),
            },
            { NOT_FOUND: NOT_IN_ROOM, UNAVAILABLE: REBUILDING },
          ),
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
          response: responses({ 204: Type.Null({ description: 'Left' }) }, { NOT_FOUND: NOT_IN_ROOM }),
        },
      },
      async (request, reply) => {
        await rooms.leave(roomId(request.params.roomId), userOf(request).id);
        return reply.code(204).send(null);
      },
    );
  };
