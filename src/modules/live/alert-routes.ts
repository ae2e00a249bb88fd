/** The alerts API (admin): alerts that fired, and the rules (read and replace). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { appError } from '../../http/errors.js';
import { responses } from '../../http/responses.js';
import type { AlertEngine } from './alerts.js';
import type { LiveRepository } from './repository.js';
import { RULE_METRICS, type Rule } from './rules.js';

const Severity = Type.Union([Type.Literal('page'), Type.Literal('ticket')]);
const Id = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]{0,63}$',
  description: 'lowercase letters, digits, dashes',
});
const Metric = Type.Union(
  RULE_METRICS.map((m) => Type.Literal(m)),
  { description: 'a snapshot metric (dotted path)' },
);
const ForSeconds = Type.Integer({ minimum: 1, maximum: 86_400 });

const RuleSchema = Type.Union([
  Type.Object(
    {
      id: Id,
      kind: Type.Literal('threshold'),
      metric: Metric,
      op: Type.Union([Type.Literal('>'), Type.Literal('<')]),
      value: Type.Number(),
      forSeconds: ForSeconds,
      severity: Severity,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      id: Id,
      kind: Type.Literal('burn-rate'),
      metric: Type.Literal('availability'),
      value: Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: 'the SLO objective, e.g. 0.999',
      }),
      severity: Severity,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      id: Id,
      kind: Type.Literal('anomaly'),
      metric: Metric,
      value: Type.Number({
        exclusiveMinimum: 0,
        description: 'deviations from the mean that count as anomalous',
      }),
      forSeconds: ForSeconds,
      severity: Severity,
    },
    { additionalProperties: false },
  ),
]);

const Rules = Type.Object(
  { rules: Type.Array(RuleSchema, { maxItems: 100 }) },
  {
    description: 'Every alert rule in force, in order',
    examples: [
      {
        rules: [
          {
            id: 'sla-p95',
            kind: 'threshold',
            metric: 'http.p95',
            op: '>',
            value: 200,
            forSeconds: 60,
            severity: 'page',
          },
          {
            id: 'availability-burn-fast',
            kind: 'burn-rate',
            metric: 'availability',
            value: 0.999,
            severity: 'page',
          },
          {
            id: 'anomaly-rps',
            kind: 'anomaly',
            metric: 'http.rps',
            value: 4,
            forSeconds: 10,
            severity: 'ticket',
          },
        ],
      },
    ],
  },
);

const Alert = Type.Object(
  {
    id: Type.String(),
    rule: Type.String(),
    severity: Severity,
    state: Type.Union([Type.Literal('FIRING'), Type.Literal('RESOLVED')]),
    startedAt: Type.String({ format: 'date-time' }),
    resolvedAt: Type.Optional(Type.String({ format: 'date-time' })),
    value: Type.Number({
      description:
        'the metric (threshold), burn rate (burn-rate) or deviations (anomaly) when last seen firing',
    }),
    threshold: Type.Number(),
    detail: Type.String(),
  },
  { description: 'An alert that fired' },
);

export const alertRoutes =
  (alerts: AlertEngine, repo: LiveRepository): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/admin/alerts',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['live operations'],
          summary:
            'Alerts that fired, newest first (at most 200); `state` keeps only firing or resolved ones',
          querystring: Type.Object({
            state: Type.Optional(Type.Union([Type.Literal('firing'), Type.Literal('resolved')])),
          }),
          response: responses({ 200: Type.Object({ items: Type.Array(Alert) }) }),
        },
      },
      async (request) => {
        const state = request.query.state
          ? (request.query.state.toUpperCase() as 'FIRING' | 'RESOLVED')
          : null;
        return { items: await repo.list(state, 200) };
      },
    );

    app.get(
      '/admin/alert-rules',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['live operations'],
          summary: 'The alert rules in force (the built-in ones until rules are stored)',
          response: responses({ 200: Rules }),
        },
      },
      async () => ({ rules: await alerts.rules() }),
    );

    app.put(
      '/admin/alert-rules',
      {
        config: { access: 'admin' },
        schema: {
          tags: ['live operations'],
          summary: 'Replaces every alert rule; alerts of rules left out are resolved',
          body: Rules,
          response: responses({ 200: Rules }),
        },
      },
      async (request) => {
        const rules = request.body.rules as Rule[];
        const seen = new Set<string>();
        for (const r of rules) {
          if (seen.has(r.id))
            throw appError('VALIDATION_FAILED', `body.rules: rule id ${r.id} is used twice`);
          seen.add(r.id);
        }
        await alerts.setRules(rules);
        return { rules };
      },
    );
  };
