import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Metrics } from '../infra/metrics.js';
import { named, responses } from './responses.js';

const Check = Type.Object({ status: Type.String(), detail: Type.Optional(Type.String()) });

export interface Readiness {
  ready: boolean;
  body: { status: string; mode: string; checks: Record<string, { status: string; detail?: string }> };
}

const Health = named('Health', Type.Object({ status: Type.Literal('ok') }), {
  description: 'The process is alive',
  example: { status: 'ok' },
});

const ReadinessBody = named(
  'Readiness',
  Type.Object({
    status: Type.String({ description: '`ready`, or why not (`starting`, `draining`, `not ready`)' }),
    mode: Type.String({ description: '`embedded` or `cluster`' }),
    checks: Type.Record(Type.String(), Check, { description: "each dependency's and module's health" }),
  }),
  {
    description: 'Whether the process can serve writes, and the health of each dependency and module',
    example: {
      status: 'ready',
      mode: 'embedded',
      checks: { postgres: { status: 'up' }, coupons: { status: 'up', detail: 'memory gate' } },
    },
  },
);

/** /healthz (alive), /readyz (dependencies and every module's health), /metrics (Prometheus). */
export const operationsRoutes =
  (readiness: () => Promise<Readiness>, metrics: Metrics): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/healthz',
      {
        config: { access: 'public' },
        schema: {
          tags: ['operations'],
          summary: 'Liveness: 200 while the process runs',
          response: responses({ 200: Health.answer('Alive') }),
        },
      },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/readyz',
      {
        config: { access: 'public' },
        schema: {
          tags: ['operations'],
          summary:
            '200 when the process can serve writes; 503 while starting, draining, or without PostgreSQL',
          response: responses({
            200: ReadinessBody.answer('Ready: every dependency is reachable'),
            503: ReadinessBody.answer('Not ready (starting, draining, or a dependency is down)'),
          }),
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
      {
        config: { access: 'public' },
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format)',
          response: responses({
            200: Type.Unsafe<string>({
              description: 'Every metric of this process, in the Prometheus text format',
              content: { 'text/plain': { schema: Type.String() } },
            }),
          }),
        },
      },
      async (_request, reply) => {
        reply.type(metrics.registry.contentType);
        return metrics.registry.metrics();
      },
    );
  };
