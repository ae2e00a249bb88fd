import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Metrics } from '../infra/metrics.js';

const Check = Type.Object({ status: Type.String(), detail: Type.Optional(Type.String()) });

export interface Readiness {
  ready: boolean;
  body: { status: string; mode: string; checks: Record<string, { status: string; detail?: string }> };
}

/** /healthz (alive), /readyz (dependencies and every module's health), /metrics (Prometheus). */
export const operationsRoutes =
  (readiness: () => Promise<Readiness>, metrics: Metrics): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get('/healthz', { config: { access: 'public' }, schema: { tags: ['operations'] } }, async () => ({
      status: 'ok',
    }));

    app.get(
      '/readyz',
      {
        config: { access: 'public' },
        schema: {
          tags: ['operations'],
          summary:
            '200 when the process can serve writes; 503 while starting, draining, or without PostgreSQL',
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
        const r = await readiness();
        reply.code(r.ready ? 200 : 503);
        return r.body;
      },
    );

    app.get(
      '/metrics',
      { config: { access: 'public' }, schema: { tags: ['operations'] } },
      async (_request, reply) => {
        reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    );
  };
