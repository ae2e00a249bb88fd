/**
 * What every operation answers, declared on the route (so the OpenAPI document at /docs lists it):
 *
 *   - `named(id, schema, { description, example })`: a response body schema with a name. The app
 *     registers every named schema at its root (`registerNamedSchemas`), it appears as
 *     `components.schemas.<id>`, and routes point at it with `.ref` or `.answer()` (typed as the
 *     schema, so handlers are still type-checked). Serialization is the same as with the schema
 *     inline: the response keeps exactly its declared properties.
 *   - `responses({ 201: Coupon.answer('Created') }, { NOT_FOUND: 'no such coupon' })`: a route's
 *     `schema.response`: its success answers by status, and the problem codes its own handler can
 *     produce, each with when. Codes of one status share one response whose description lists them.
 *   - `installResponseDocs(app)`: at registration, adds to every route the refusals its kind of
 *     route can answer whatever its handler does (401/403 from the access hook, 400 from
 *     validation, 413/415 from body parsing, 429 from the rate limiter, 500, 503 OVERLOADED), and
 *     refuses to start when an /api route with a schema declares no 2xx answer.
 *
 * Every problem answer is `application/problem+json` with the shared `Problem` schema (schemas.ts).
 * Errors a client sees before any route is chosen (malformed HTTP, 414, 431, 408) are not listed
 * per operation; docs/errors.md has them.
 */
import { STATUS_CODES } from 'node:http';
import { type Static, type TSchema, type TUnsafe, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import type { Access } from './auth.js';
import { ERRORS, type ErrorCode, type Problem as ProblemBody } from './errors.js';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** A response body schema registered under its own name. */
export interface NamedSchema<T extends TSchema> {
  readonly id: string;
  /** The schema with its `$id`, as registered. */
  readonly schema: T;
  /** A reference to it, typed as the schema: for nesting in other response schemas. */
  readonly ref: TUnsafe<Static<T>>;
  /** A success answer made of it, described (the response's description in /docs). */
  answer(description: string): TUnsafe<Static<T>>;
}

/**
 * Every named schema, by id, registered on the root app by `registerNamedSchemas` before any route
 * (OpenAPI components are app-wide). Not per plugin: a schema added inside an encapsulated plugin
 * makes Fastify rebuild that plugin's validator from its default ajv, which would drop the app's
 * own validator compiler (strict bodies, integers in query strings read from digits only).
 */
const registry = new Map<string, TSchema>();

/**
 * Declares a named response schema (call it at module level, beside the routes that use it). An id
 * is taken once; declaring it again with another schema throws.
 */
export function named<T extends TSchema>(
  id: string,
  schema: T,
  doc: { description: string; example: Static<T> },
): NamedSchema<T> {
  const registered = { ...schema, $id: id, description: doc.description, examples: [doc.example] } as T;
  const taken = registry.get(id);
  if (taken && JSON.stringify(taken) !== JSON.stringify(registered))
    throw new Error(`the response schema name ${id} is taken by another schema`);
  registry.set(id, registered);
  return {
    id,
    schema: registered,
    ref: Type.Unsafe<Static<T>>(Type.Ref(id)),
    answer: (description) => Type.Unsafe<Static<T>>({ ...Type.Ref(id), description }),
  };
}

/** Adds every named schema to the root app; call it once, before any route is registered. */
export function registerNamedSchemas(app: FastifyInstance): void {
  for (const schema of registry.values()) app.addSchema(schema);
}

/** When each problem code happens, for one operation. */
export type ProblemCodes = Partial<Record<ErrorCode, string>>;

/** The problem codes a route declared, kept beside its response map until installResponseDocs reads them. */
const declared = new WeakMap<object, ProblemCodes>();
/** Response maps installResponseDocs already completed (a GET's HEAD twin shares its schema). */
const completed = new WeakSet<object>();

/**
 * A route's `schema.response`: `success` by status, and one problem answer per status of the codes
 * in `problems` (with the refusals common to its kind of route added at registration).
 */
export function responses<S extends Record<number, TSchema>>(
  success: S,
  problems: ProblemCodes = {},
): S & ProblemAnswers {
  const map = { ...success, ...problemAnswers(problems) };
  declared.set(map, problems);
  // The problem statuses are typed as the 4xx/5xx classes (what Fastify's reply types read): a
  // handler's success body is checked against its schema, and any problem status may be sent.
  return map as unknown as S & ProblemAnswers;
}

/** How the problem answers of a response map look to the type provider. */
type ProblemAnswers = { '4xx': TUnsafe<ProblemBody>; '5xx': TUnsafe<ProblemBody> };

/** One answer per status for these codes: Problem, with a description listing the codes and when. */
function problemAnswers(codes: ProblemCodes): Record<number, TSchema> {
  const byStatus = new Map<number, [ErrorCode, string][]>();
  for (const [code, when] of Object.entries(codes) as [ErrorCode, string][]) {
    const status = ERRORS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), [code, when]]);
  }
  const out: Record<number, TSchema> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const lines = list.map(([code, when]) => `- \`${code}\`: ${when}`).join('\n');
    const retry = list.some(([code]) => RETRY_AFTER.has(code));
    out[status] = Type.Unsafe<ProblemBody>({
      description: `${list.length === 1 ? 'Problem' : 'Problem, `code` one of'}:\n${lines}`,
      ...(retry
        ? {
            headers: {
              'retry-after': Type.Integer({ minimum: 1, description: 'seconds to wait before retrying' }),
            },
          }
        : {}),
      content: { [PROBLEM_MEDIA_TYPE]: { schema: Type.Ref('Problem') } },
    });
  }
  return out;
}

/** Codes answered with a Retry-After header. */
const RETRY_AFTER = new Set<ErrorCode>([
  'RATE_LIMITED',
  'UNAVAILABLE',
  'OVERLOADED',
  'IDEMPOTENCY_IN_PROGRESS',
]);

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The refusals any route of this kind can answer, whatever its handler does. */
export function commonProblems(route: {
  method: string;
  url: string;
  access?: Access;
  validated: boolean;
}): ProblemCodes {
  const codes: ProblemCodes = {};
  if (route.validated || BODY_METHODS.has(route.method))
    codes.VALIDATION_FAILED = 'the request does not match the schema; `detail` names the field';
  if (route.access === 'user') {
    codes.UNAUTHENTICATED = 'no `Authorization: Bearer <token>`, or a malformed, forged or expired token';
    codes.FORBIDDEN = 'the admin token was sent: it cannot act as a user';
  } else if (route.access === 'admin') {
    codes.UNAUTHENTICATED = 'no `Authorization: Bearer <ADMIN_TOKEN>`, or a token that is not it';
    codes.FORBIDDEN = 'a user token was sent: admin endpoints need ADMIN_TOKEN';
  }
  if (BODY_METHODS.has(route.method)) {
    codes.PAYLOAD_TOO_LARGE = 'the body is larger than the size limit';
    codes.UNSUPPORTED_MEDIA_TYPE = 'a body sent as anything but application/json';
  }
  if (route.url.startsWith('/api/'))
    codes.RATE_LIMITED =
      route.access === 'admin'
        ? 'over the per-address limit (admin routes are exempt unless RATE_LIMIT_EXEMPT_ADMIN=false); wait Retry-After seconds'
        : 'over the per-address or per-user limit; wait Retry-After seconds';
  codes.INTERNAL = 'an unexpected failure, logged; the answer carries no internals';
  codes.OVERLOADED = 'the server is stalled or shutting down; retry after Retry-After seconds';
  return codes;
}

const isProblemWildcard = (status: string) => /^[45]xx$/i.test(status);

/**
 * Completes every route's answers at registration (an onRoute hook; install it before the
 * routes): the common refusals are merged with the codes the route declared (the route's own
 * sentence wins for a code both name), and an /api route without a 2xx answer stops the start.
 * The full map is what /docs shows (`documentedSchema`, the swagger transform); the route's
 * `schema.response` becomes its success answers plus the Problem catch-alls. A route still using
 * the `4xx`/`5xx` wildcards (ProblemResponses) keeps them, described, beside the explicit statuses.
 * The map is replaced, never mutated: a response map may be a shared constant.
 */
export function installResponseDocs(app: FastifyInstance): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema as (RouteOptions['schema'] & { hide?: boolean }) | undefined;
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    // A route without any schema (a test's probe) is left alone; test/integration/openapi.test.ts
    // checks that every served operation documents its answers.
    if (!schema) return;
    const current = (schema.response ?? {}) as Record<string, unknown>;
    if (completed.has(current)) return;
    const ok = Object.keys(current).some((s) => /^2(\d\d|xx)$/i.test(s));
    if (!ok && route.url.startsWith('/api/') && !schema.hide)
      throw new Error(
        `route ${method} ${route.url} declares no 2xx response (use responses() in its schema)`,
      );
    const own = declared.get(current) ?? {};
    const common = commonProblems({
      method,
      url: route.url,
      access: route.config?.access,
      validated: Boolean(schema.body || schema.querystring || schema.params || schema.headers),
    });
    const next: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(current)) {
      if (/^[45]\d\d$/.test(status)) continue; // rebuilt below from the codes
      next[status] = isProblemWildcard(status)
        ? {
            description: 'Any other problem (see docs/errors.md for every code)',
            content: { [PROBLEM_MEDIA_TYPE]: { schema: Type.Ref('Problem') } },
          }
        : described(status, answer);
    }
    Object.assign(next, problemAnswers({ ...common, ...own }));
    // A status the route answered with its own schema (not a Problem: /readyz's 503) keeps it,
    // with the Problem added for the refusals of that status.
    for (const [status, answer] of Object.entries(current)) {
      if (!/^[45]\d\d$/.test(status) || isOwnProblem(answer)) continue;
      const problem = next[status] as { description?: string; content?: Record<string, unknown> } | undefined;
      const body = answer as { description?: string; content?: Record<string, unknown> };
      next[status] = {
        description: [body.description, problem?.description].filter(Boolean).join('\n\n'),
        content: {
          ...(body.content ?? { 'application/json': { schema: answer } }),
          ...(problem?.content ?? {}),
        },
      };
    }
    // What runs is smaller than what is documented: the problem statuses share the 4xx/5xx
    // catch-alls (one serializer each per route instead of one per status: same bytes out, and
    // half the start-up time of compiling a Problem serializer for every status of every route).
    const runtime: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(next))
      if (!/^[45]/.test(status) || !isOwnProblem(answer)) runtime[status] = answer;
    runtime['4xx'] = PROBLEM_CATCH_ALL;
    runtime['5xx'] = PROBLEM_CATCH_ALL;
    completed.add(runtime);
    documented.set(schema, next);
    schema.response = runtime;
  });
}

/** The serializer entry every problem status of every route falls back to. */
const PROBLEM_CATCH_ALL = { content: { [PROBLEM_MEDIA_TYPE]: { schema: Type.Ref('Problem') } } };

/** The documented response map of each route schema installResponseDocs completed. */
const documented = new WeakMap<object, Record<string, unknown>>();

/**
 * @fastify/swagger's `transform`: a route's document shows its documented answers (every status
 * with its codes), not the smaller map its serializers were compiled from.
 */
export function documentedSchema({ schema, url }: { schema: FastifySchema; url: string }): {
  schema: FastifySchema;
  url: string;
} {
  const docs = schema ? documented.get(schema) : undefined;
  return { schema: docs ? { ...schema, response: docs } : schema, url };
}

/** A success answer without a description gets its status's reason phrase (never "Default Response"). */
function described(status: string, answer: unknown): unknown {
  if (answer === null || typeof answer !== 'object' || 'description' in answer) return answer;
  return { ...answer, description: STATUS_CODES[Number(status)] ?? `${status} answer` };
}

/** True for a problem answer built by problemAnswers (its only media type is problem+json). */
function isOwnProblem(answer: unknown): boolean {
  const content = (answer as { content?: Record<string, unknown> } | null)?.content;
  return content !== undefined && Object.keys(content).length === 1 && PROBLEM_MEDIA_TYPE in content;
}
