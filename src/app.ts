/**
 * Builds the Fastify app: external plugins → error model → operations routes → module routes.
 * It only wires what the runtime built; it opens no connections itself (tests inject services).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import underPressure from '@fastify/under-pressure';
import { Ajv } from 'ajv';
import addFormatsPlugin from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { installErrorHandling } from './http/error-handler.js';
import { appError } from './http/errors.js';
import { Problem } from './http/schemas.js';
import { catalogRoutes } from './modules/catalog/routes.js';
import { couponsRoutes } from './modules/coupons/routes.js';
import { notificationsRoutes } from './modules/notifications/routes.js';
import { ordersRoutes } from './modules/orders/routes.js';
import { pointsRoutes } from './modules/points/routes.js';
import { rankingRoutes } from './modules/ranking/routes.js';
import { usersRoutes } from './modules/users/routes.js';
import { operationsRoutes } from './operations.js';
import type { AppServices } from './services.js';

// ajv-formats is CommonJS with a default export.
const addFormats = addFormatsPlugin as unknown as (ajv: Ajv) => Ajv;

export async function buildApp(services: AppServices, logger?: FastifyBaseLogger): Promise<FastifyInstance> {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: services.config.bodyLimit,
    // Per-request logs would dominate a spike; metrics cover requests, logs cover errors.
    logController: new LogController({ disableRequestLogging: true }),
    // No per-request child logger (it cost ~4% of CPU under load); errors are logged with the route.
    childLoggerFactory: (logger) => logger,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Query strings and path params are text, so they are coerced ("20" → 20); JSON bodies are typed
  // already, so they are validated strictly: {"amount": "100"} is a 400, not a silent 100.
  const strict = addFormats(
    new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false }),
  );
  const coercing = addFormats(
    new Ajv({ coerceTypes: 'array', removeAdditional: false, useDefaults: true, allErrors: false }),
  );
  for (const ajv of [strict, coercing]) ajv.addKeyword('kind').addKeyword('modifier');
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema as object),
  );

  app.addSchema(Problem);
  installErrorHandling(app);
  // Clients often send Content-Type: application/json with no body on body-less POSTs (issue);
  // treat that as "no body" instead of an error. Non-empty bodies use Fastify's safe parser.
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else jsonParser(request, body as string, done);
  });

  await app.register(swagger, {
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
  await app.register(underPressure, {
    maxEventLoopDelay: 2_000,
    exposeStatusRoute: false,
    pressureHandler: () => {
      throw appError('OVERLOADED', 'the server is overloaded; retry shortly', { 'retry-after': '1' });
    },
  });

  const { metrics } = services;
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpDuration.observe(
      { method: request.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(operationsRoutes, { services });
  await app.register(usersRoutes, { services });
  await app.register(couponsRoutes, { services });
  await app.register(pointsRoutes, { services });
  await app.register(catalogRoutes, { services });
  await app.register(rankingRoutes, { services });
  await app.register(ordersRoutes, { services });
  await app.register(notificationsRoutes, { services });
  return app;
}
