import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { AppServices } from './services.js';

const Check = Type.Object({ status: Type.String(), detail: Type.Optional(Type.String()) });

/** /healthz (alive), /readyz (dependencies), /metrics (Prometheus). */
export const operationsRoutes: FastifyPluginAsyncTypebox<{ services: AppServices }> = async (
  app,
  { services },
) => {
  app.get('/healthz', { schema: { tags: ['operations'], hide: false } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: '200 when the process can serve writes; 503 while starting, draining, or without PostgreSQL',
        response: {
          '2xx': Type.Object({
            status: Type.String(),
            mode: Type.String(),
            checks: Type.Record(Type.String(), Check),
          }),
        },
      },
    },
    async (_request, reply) => {
      const checks: Record<string, { status: string; detail?: string }> = {};
      const { pool, redis, coupons, lifecycle, config } = services;
      try {
        await pool.query('SELECT 1');
        checks.postgres = { status: 'up' };
      } catch (err) {
        checks.postgres = { status: 'down', detail: (err as Error).message };
      }
      if (redis) {
        try {
          await redis.ping();
          checks.redis = { status: 'up' };
        } catch (err) {
          checks.redis = {
            status: 'down',
            detail: `${(err as Error).message}; issuing through PostgreSQL only`,
          };
        }
      }
      checks.gate = {
        status: coupons.breakerOpen ? 'fallback' : 'up',
        detail: `${coupons.gateKind} gate, breaker ${coupons.breakerOpen ? 'open (PostgreSQL-only path)' : 'closed'}`,
      };
      const ready = lifecycle.state === 'ready' && checks.postgres.status === 'up';
      const degraded = ready && (checks.redis?.status === 'down' || coupons.breakerOpen);
      reply.code(ready ? 200 : 503);
      return {
        status: ready
          ? degraded
            ? 'degraded'
            : 'ready'
          : lifecycle.state === 'ready'
            ? 'unavailable'
            : lifecycle.state,
        mode: config.mode,
        checks,
      };
    },
  );

  app.get('/metrics', { schema: { tags: ['operations'] } }, async (_request, reply) => {
    reply.type(services.metrics.registry.contentType);
    return services.metrics.registry.metrics();
  });
};
