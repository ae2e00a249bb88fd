/**
 * Builds the Fastify app: external plugins → error model → access control and streams → operations
 * routes → each module's routes as an encapsulated plugin under its prefix. It only wires what the
 * runtime built; it opens no connections itself.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import underPressure from '@fastify/under-pressure';
import websocket from '@fastify/websocket';
import { Ajv } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Config } from './config.js';
import { installAccessControl } from './http/auth.js';
import {
  clientErrorHandler,
  frameworkErrors,
  installErrorHandling,
  installUpgradeRefusals,
  MAX_PARAM_LENGTH,
} from './http/error-handler.js';
import { appError } from './http/errors.js';
import { operationsRoutes, type Readiness } from './http/operations.js';
import { installRateLimits, type RateLimitSettings } from './http/rate-limit.js';
import { documentedSchema, installResponseDocs, registerNamedSchemas } from './http/responses.js';
import { addTextPartKeywords, Problem, textPartSchema } from './http/schemas.js';
import { installStreams } from './http/streams.js';
import type { Infra } from './infra/index.js';
import type { Metrics } from './infra/metrics.js';
import type { Auth } from './infra/tokens.js';
import { runUnsampledBare } from './infra/tracing.js';
import type { ComposedModule } from './kernel/compose.js';

/** What the app needs from the runtime; nothing else of it is reachable from HTTP. */
export interface AppParts {
  /** Rate-limit settings left out take their defaults (limits on). */
  config: Pick<Config, 'bodyLimit'> & Partial<RateLimitSettings> & Partial<Pick<Config, 'tracesExporter'>>;
  metrics: Metrics;
  tokens: Auth;
  modules: readonly ComposedModule[];
  readiness(): Promise<Readiness>;
  /** Cluster mode's Redis, where rate-limit counters are shared; absent: counted in this process. */
  infra?: Pick<Infra, 'redis'>;
}

/** Probes and scrapes: no spans for them. */
const UNTRACED = /^\/(healthz|readyz|metrics)(\?|$)/;

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv) => Ajv;

export async function buildApp(parts: AppParts, logger?: FastifyBaseLogger): Promise<FastifyInstance> {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: parts.config.bodyLimit,
    // Per-request logs would dominate a spike; metrics cover requests, logs cover errors.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger (it cost ~4% of CPU under load); errors are logged with the route.
    childLoggerFactory: (logger) => logger,
    forceCloseConnections: 'idle',
    // Refusals are problem+json whoever makes them (src/http/error-handler.ts): the router's, the
    // HTTP parser's, and the ones Node's server and Fastify would answer in their own format — a
    // missing Host and a request during the drain are refused by our first hook instead.
    frameworkErrors,
    clientErrorHandler,
    http: { requireHostHeader: false },
    return503OnClosing: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A request (headers and body) must arrive within 2 minutes (Node's headersTimeout, 60 s, still
    // bounds the headers); 408 REQUEST_TIMEOUT otherwise. Responses (streams) are not bounded.
    requestTimeout: 120_000,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Tracing on: a span per request (continuing an incoming traceparent), registered first so it
  // sees every route. Probes and scrapes are left out; hook and handler spans too (a dozen per
  // request, mostly microseconds) — the gate, commit and SQL spans under it are what tell.
  if (parts.config.tracesExporter) {
    const { FastifyOtelInstrumentation } = await import('@fastify/otel');
    const otel = new FastifyOtelInstrumentation({
      instrumentHooks: false,
      instrumentHandler: false,
      ignorePaths: ({ url }) => UNTRACED.test(url),
      // "POST /api/v1/coupons/:couponId/issue" rather than "request".
      requestHook: (span, request) =>
        span.updateName(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`),
    });
    await app.register(otel.plugin());
    // An unsampled request goes on without its (non-recording) span in the context.
    app.addHook('onRequest', (_request, _reply, done) => runUnsampledBare(done));
  }

  // Query strings and path params are text, so they are coerced ("20" → 20); JSON bodies are typed
  // already, so they are validated strictly: {"amount": "100"} is a 400, not a silent 100. Integers
  // in text parts are read from decimal digits only, never coerced (textPartSchema in src/http/schemas.ts).
  const strict = addFormats(
    new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false }),
  );
  const coercing = addFormats(
    new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false }),
  );
  for (const ajv of [strict, coercing]) ajv.addKeyword('kind').addKeyword('modifier');
  addTextPartKeywords(coercing);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body'
      ? strict.compile(schema as object)
      : coercing.compile(textPartSchema(schema, httpPart ?? 'schema') as object),
  );

  app.addSchema(Problem);
  // The response schemas routes refer to by name (components.schemas in /docs), all at the root.
  registerNamedSchemas(app);
  installErrorHandling(app);
  // Clients often send Content-Type: application/json with no body on body-less POSTs (the issue route);
  // treat that as "no body" instead of an error. Non-empty bodies use Fastify's safe parser.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else jsonParser(request, body as string, done);
  });

  await app.register(swagger, {
    // Shared schemas appear under their own names (components.schemas.Problem), not def-0.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    // Every status each operation answers, with its codes (src/http/responses.ts).
    transform: documentedSchema,
    openapi: {
      info: {
        title: 'stampede API',
        version: '1.0.0',
        description:
          'Limited-stock, high-traffic commerce. Every error is application/problem+json (RFC 9457) with a stable `code`; see docs/errors.md.',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  // Shed load only when the event loop is really stuck (a death spiral), not merely busy: during a
  // drop the loop runs near 100 % by design, and the gate answers fastest exactly then.
  // Sampled over 5 s: under-pressure reads an interval without a single loop sample (a busy machine,
  // one long synchronous response) as an infinite delay, and a 1 s interval shed bulk requests in tests.
  await app.register(underPressure, {
    maxEventLoopDelay: 2_000,
    sampleInterval: 5_000,
    exposeStatusRoute: false,
    pressureHandler: () => {
      throw appError('OVERLOADED', 'the server is overloaded; retry shortly', { 'retry-after': '1' });
    },
  });

  const { metrics } = parts;
  app.addHook('onResponse', (request, reply, done) => {
    // A stream's duration is how long a client stayed, not how fast we answered.
    const route = request.routeOptions.url ?? 'unmatched';
    if (!request.routeOptions.config.stream) {
      metrics.httpDuration.observe(
        { method: request.method, route, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
      metrics.frames.request(route, reply.statusCode, reply.elapsedTime / 1000);
    } else {
      metrics.frames.request(route, reply.statusCode, null);
    }
    done();
  });

  installAccessControl(app, parts.tokens);
  // Every route's answers in /docs: its own, plus the refusals its kind of route can make.
  installResponseDocs(app);
  await installRateLimits(app, { config: parts.config, redis: parts.infra?.redis() ?? null });
  installStreams(app, metrics);
  // WebSocket routes (`{ websocket: true }`) upgrade only after the access hook ran. A drain ends
  // every socket with 1001 (going away): clients reconnect elsewhere, and app.close() never waits.
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'server shutting down');
      this.websocketServer.close(() => done());
    },
  });
  installUpgradeRefusals(app);
  await app.register(operationsRoutes(parts.readiness, metrics));
  for (const m of parts.modules) {
    if (m.instance.routes) await app.register(m.instance.routes, { prefix: m.prefix });
  }
  return app;
}
