/**
 * Chat routes under /api/v1/chat: rooms (create, list with online counts, join, leave, who is
 * online), messages (history by seq, send) and the WebSocket endpoint. The REST send and the
 * WebSocket `send` frame call the same ChatService.send.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { userOf } from '../../http/auth.js';
import { appError } from '../../http/errors.js';
import { decodeCursor, pageOf, pageSchema } from '../../http/pagination.js';
import { named, responses } from '../../http/responses.js';
import { IdParam, PageQuery, QueryInteger, Text } from '../../http/schemas.js';
import { ClientMsgId, MessageText } from './frames.js';
import type { RoomRow } from './repository.js';
import { type ChatService, roomIdOf } from './service.js';
import type { ChatSockets } from './sockets.js';

const MESSAGE_EXAMPLE = {
  seq: 42,
  id: '1042',
  roomId: '1',
  userId: '7',
  userName: 'ada',
  text: 'doors open in 5 minutes',
  at: '2026-11-28T00:00:01.250Z',
  clientMsgId: 'b7f0c6f2-1',
};

const Room = named(
  'ChatRoom',
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    topic: Type.Union([Type.String(), Type.Null()]),
    createdBy: Type.String({ description: 'the user who created it (its first member)' }),
    createdAt: Type.String({ format: 'date-time' }),
  }),
  {
    description: 'A chat room',
    example: {
      id: '1',
      name: 'Summer night',
      topic: 'doors, merch, set list',
      createdBy: '7',
      createdAt: '2026-11-28T00:00:00.000Z',
    },
  },
);

const RoomListItem = named(
  'ChatRoomListItem',
  Type.Object({
    id: Type.String(),
    name: Type.String(),
    topic: Type.Union([Type.String(), Type.Null()]),
    online: Type.Integer({ description: 'users with a socket subscribed to the room right now' }),
  }),
  {
    description: 'A chat room in the list',
    example: { id: '1', name: 'Summer night', topic: 'doors, merch, set list', online: 12 },
  },
);

const Membership = named(
  'ChatMembership',
  Type.Object({
    roomId: Type.String(),
    userId: Type.String(),
    joinedAt: Type.String({ format: 'date-time', description: 'when the user first joined' }),
  }),
  {
    description: "The caller's membership of a chat room",
    example: { roomId: '1', userId: '7', joinedAt: '2026-11-28T00:00:00.500Z' },
  },
);

const OnlineList = named(
  'ChatOnline',
  Type.Object({
    items: Type.Array(Type.Object({ userId: Type.String(), name: Type.String() })),
  }),
  {
    description: 'Users with a socket subscribed to the room right now, each once',
    example: { items: [{ userId: '7', name: 'ada' }] },
  },
);

const Message = named(
  'ChatMessage',
  Type.Object({
    seq: Type.Integer({ description: "the message's place in its room: 1, 2, 3... without gaps" }),
    id: Type.String(),
    roomId: Type.String(),
    userId: Type.String(),
    userName: Type.String(),
    text: Type.String(),
    at: Type.String({ format: 'date-time', description: 'when it was stored' }),
    clientMsgId: Type.Optional(Type.String()),
  }),
  { description: 'A chat message', example: MESSAGE_EXAMPLE },
);

const MessagePage = named('ChatMessagePage', Type.Object({ items: Type.Array(Message.ref) }), {
  description: 'Messages in seq order (oldest first)',
  example: { items: [MESSAGE_EXAMPLE] },
});

const Params = Type.Object({ roomId: IdParam });
const NO_ROOM = 'no such chat room';
const NOT_MEMBER = 'the caller is not a member of the room';

function roomView(r: RoomRow) {
  return {
    id: r.id,
    name: r.name,
    topic: r.topic,
    createdBy: r.createdBy,
    createdAt: r.createdAt.toISOString(),
  };
}

export const chatRoutes =
  (chat: ChatService, sockets: ChatSockets): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/chat/rooms',
      {
        config: { access: 'user' },
        schema: {
          tags: ['chat'],
          summary: 'Create a chat room; you are its first member',
          body: Type.Object(
            { name: Text({ max: 100 }), topic: Type.Optional(Text({ max: 500 })) },
            {
              additionalProperties: false,
              examples: [{ name: 'Summer night', topic: 'doors, merch, set list' }],
            },
          ),
          response: responses({ 201: Room.answer('Created') }),
        },
      },
      async (request, reply) => {
        const { name, topic } = request.body;
        return reply.code(201).send(roomView(await chat.createRoom(userOf(request), name, topic ?? null)));
      },
    );

    app.get(
      '/chat/rooms',
      {
        config: { access: 'public' },
        schema: {
          tags: ['chat'],
          summary: 'Every chat room in id order, a page at a time, with how many users are online in it',
          querystring: PageQuery,
          response: responses(
            { 200: pageSchema(RoomListItem.ref, 'in id order') },
            { VALIDATION_FAILED: '`limit` outside 1..100, or a `cursor` this API did not hand out' },
          ),
        },
      },
      async (request) => {
        const { cursor, limit } = request.query;
        const page = pageOf(await chat.rooms(decodeCursor(cursor), limit), limit);
        return {
          items: page.items.map((r) => ({ id: r.id, name: r.name, topic: r.topic, online: r.online })),
          ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
        };
      },
    );

    app.post(
      '/chat/rooms/:roomId/members',
      {
        config: { access: 'user' },
        schema: {
          tags: ['chat'],
          summary: 'Join a chat room (joining again answers the same membership)',
          params: Params,
          response: responses({ 200: Membership.answer('A member') }, { NOT_FOUND: NO_ROOM }),
        },
      },
      async (request) => {
        const roomId = roomIdOf(request.params.roomId);
        const user = userOf(request);
        const joinedAt = await chat.join(roomId, user.id);
        return { roomId, userId: user.id, joinedAt: joinedAt.toISOString() };
      },
    );

    app.delete(
      '/chat/rooms/:roomId/members/me',
      {
        config: { access: 'user' },
        schema: {
          tags: ['chat'],
          summary:
            "Leave a chat room (leaving a room you are not in is not an error); your sockets' subscriptions to it end",
          params: Params,
          response: responses(
            { 204: Type.Null({ description: 'Left: no longer a member' }) },
            { NOT_FOUND: NO_ROOM },
          ),
        },
      },
      async (request, reply) => {
        await chat.leave(roomIdOf(request.params.roomId), userOf(request).id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/chat/rooms/:roomId/online',
      {
        config: { access: 'public' },
        schema: {
          tags: ['chat'],
          summary: 'Who is online in the room: users with a socket subscribed to it, on any process',
          params: Params,
          response: responses({ 200: OnlineList.answer('Online now') }, { NOT_FOUND: NO_ROOM }),
        },
      },
      async (request) => ({ items: await chat.online(roomIdOf(request.params.roomId)) }),
    );

    app.get(
      '/chat/rooms/:roomId/messages',
      {
        config: { access: 'user' },
        schema: {
          tags: ['chat'],
          summary:
            'A page of the history, oldest first: the first `limit` messages after `afterSeq`, or without it the latest `limit` (before `beforeSeq` if given)',
          params: Params,
          querystring: Type.Object({
            afterSeq: Type.Optional(QueryInteger({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
            beforeSeq: Type.Optional(QueryInteger({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })),
            limit: QueryInteger({ minimum: 1, maximum: 100, default: 50 }),
          }),
          response: responses(
            { 200: MessagePage.answer('Messages by seq') },
            { NOT_FOUND: NO_ROOM, NOT_MEMBER },
          ),
        },
      },
      async (request) => {
        const { afterSeq, beforeSeq, limit } = request.query;
        const items = await chat.history(roomIdOf(request.params.roomId), userOf(request).id, {
          afterSeq,
          beforeSeq,
          limit,
        });
        return { items };
      },
    );

    app.post(
      '/chat/rooms/:roomId/messages',
      {
        config: { access: 'user' },
        schema: {
          tags: ['chat'],
          summary:
            'Send a message; 201 once it is stored. The same clientMsgId from you is stored once: a resend answers the first message (same seq)',
          params: Params,
          body: Type.Object(
            { text: MessageText, clientMsgId: Type.Optional(ClientMsgId) },
            {
              additionalProperties: false,
              examples: [{ text: 'doors open in 5 minutes', clientMsgId: 'b7f0c6f2-1' }],
            },
          ),
          response: responses(
            { 201: Message.answer('Stored') },
            {
              NOT_FOUND: NO_ROOM,
              NOT_MEMBER,
              IDEMPOTENCY_KEY_REUSED:
                'the clientMsgId already names another message of yours (another room or text)',
              RATE_LIMITED:
                'more chat messages from you this minute than CHAT_MESSAGES_PER_MINUTE; wait Retry-After seconds',
              UNAVAILABLE: 'the message could not be made durable (nothing was stored); send it again',
            },
          ),
        },
      },
      async (request, reply) => {
        const { text, clientMsgId } = request.body;
        const m = await chat.send(
          userOf(request),
          roomIdOf(request.params.roomId),
          text,
          clientMsgId ?? null,
        );
        return reply.code(201).send(m);
      },
    );

    // The WebSocket endpoint. Its frames cannot be described in OpenAPI, so it is left out of
    // /docs (docs/api.md has the protocol); a plain GET without the upgrade is refused.
    app.route({
      method: 'GET',
      url: '/chat/ws',
      config: { access: 'user', tokenInQuery: true, stream: true },
      schema: {
        hide: true,
        querystring: Type.Object({ access_token: Type.Optional(Type.String({ maxLength: 4096 })) }),
      },
      handler: async () => {
        throw appError(
          'VALIDATION_FAILED',
          'GET /api/v1/chat/ws is a WebSocket endpoint: send the Upgrade handshake',
        );
      },
      wsHandler: (socket, request) => sockets.accept(socket, userOf(request)),
    });
  };
