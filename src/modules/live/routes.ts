/**
 * The live operations API (admin): the per-second snapshot stream, its history, and (alerts.ts)
 * the alerts and their rules.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { responses } from '../../http/responses.js';
import type { LiveService } from './service.js';

const SnapshotSchema = Type.Object(
  {
    at: Type.String({ format: 'date-time', description: 'start of the (first) second covered' }),
    seconds: Type.Integer({ description: 'seconds covered: 1 in the stream, more in a long history' }),
    processes: Type.Integer({ description: 'processes whose frames were merged' }),
    http: Type.Object(
      {
        rps: Type.Number(),
        p50: Type.Union([Type.Number(), Type.Null()], { description: 'ms' }),
        p95: Type.Union([Type.Number(), Type.Null()], { description: 'ms' }),
        p99: Type.Union([Type.Number(), Type.Null()], { description: 'ms' }),
        mean: Type.Union([Type.Number(), Type.Null()], { description: 'ms' }),
        errorRate: Type.Number({ description: 'share of requests answered 5xx' }),
        statuses: Type.Record(Type.String(), Type.Number(), { description: 'requests by status class' }),
        routes: Type.Array(
          Type.Object({ route: Type.String(), rps: Type.Number(), errorRate: Type.Number() }),
        ),
      },
      { additionalProperties: true },
    ),
  },
  {
    additionalProperties: true,
    description:
      'Merged over every process: http, coupons, waitingRooms, concerts, orders, commits, outbox, eventLoop, process, pool, breakers, alerts',
  },
);

export const liveRoutes =
  (live: LiveService): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/admin/live',
      {
        config: { access: 'admin', tokenInQuery: true, stream: true },
        schema: {
          tags: ['live operations'],
          summary:
            'The live view as Server-Sent Events: one `snapshot` a second, merged over every process. The token may be sent as ?access_token=',
          querystring: Type.Object({ access_token: Type.Optional(Type.String({ maxLength: 4096 })) }),
          response: responses({
            200: Type.Unsafe<string>({
              description:
                'A stream of `snapshot` events (data: a snapshot), until the server drains (`shutdown`)',
              content: { 'text/event-stream': { schema: Type.String() } },
            }),
          }),
        },
      },
      async (request, reply) => {
        live.watch(app.streams.start(request, reply, { retryMs: 1_000 }));
      },
    );

    app.get(
      '/admin/live/history',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['live operations'],
          summary: `Snapshots of the last minutes, oldest first (at most 600: longer spans are merged into buckets of equal seconds)`,
          querystring: Type.Object({
            minutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 60, default: 10 })),
          }),
          response: responses({ 200: Type.Object({ items: Type.Array(SnapshotSchema) }) }),
        },
      },
      async (request) => ({ items: await live.history(request.query.minutes ?? 10) }),
    );
  };
