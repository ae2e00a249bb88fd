/**
 * Who may call a route is data on the route (`config.access`: public | user | admin), enforced by one
 * hook; tokens themselves are signed and checked in src/infra/tokens.ts.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Auth, UserPrincipal } from '../infra/tokens.js';
import { appError } from './errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserPrincipal;
  }
}

function bearer(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : null;
}

const USER_REFUSALS = {
  missing: () => appError('UNAUTHENTICATED', 'send Authorization: Bearer <token>'),
  expired: () => appError('UNAUTHENTICATED', 'the token has expired'),
  invalid: () => appError('UNAUTHENTICATED', 'the token is not valid'),
  admin: () => appError('FORBIDDEN', 'the admin token cannot act as a user'),
};

const ADMIN_REFUSALS = {
  missing: () => appError('UNAUTHENTICATED', 'send Authorization: Bearer <ADMIN_TOKEN>'),
  invalid: () => appError('UNAUTHENTICATED', 'the token is not valid'),
  user: () => appError('FORBIDDEN', 'admin endpoints need the admin token'),
};

/** Who may call a route: anyone, a user with a token, or the admin token. */
export type Access = 'public' | 'user' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Required on every /api route; enforced by the access hook (installAccessControl). */
    access?: Access;
    /**
     * Also take the token from `?access_token=` (EventSource and WebSocket clients in browsers
     * cannot set headers). Only for GET streams: a token in a URL ends up in logs.
     */
    tokenInQuery?: boolean;
  }
}

function presentedToken(request: FastifyRequest, inQuery: boolean | undefined): string | null {
  const fromHeader = bearer(request);
  if (fromHeader || !inQuery) return fromHeader;
  const q = (request.query as Record<string, unknown> | undefined)?.access_token;
  return typeof q === 'string' && q.length > 0 ? q : null;
}

/** The user the access hook authenticated; only valid on routes declared `access: 'user'`. */
export function userOf(request: FastifyRequest): UserPrincipal {
  if (!request.user) throw new Error(`route ${request.routeOptions.url} is not declared access: 'user'`);
  return request.user;
}

/**
 * Who may call a route is data on the route (`config.access`), enforced by one onRequest hook:
 * before the body is read, so an unauthenticated client cannot make the server parse a large
 * body; and before any handler, so it holds for SSE routes and WebSocket upgrades too (an upgrade
 * request runs the route's hooks before it is upgraded). A route under /api without a declared
 * access stops the start; the declaration also writes the route's OpenAPI `security`.
 */
export function installAccessControl(app: FastifyInstance, auth: Auth): void {
  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (!access) {
      if (route.url.startsWith('/api/'))
        throw new Error(
          `route ${route.method} ${route.url} declares no config.access (public | user | admin)`,
        );
      return;
    }
    if (access !== 'public' && route.schema) {
      route.schema.security ??= access === 'admin' ? [{ adminToken: [] }] : [{ bearerAuth: [] }];
    }
  });
  app.addHook('onRequest', (request, reply, done) => {
    const { access, tokenInQuery } = request.routeOptions.config;
    try {
      if (access === 'user') {
        const user = auth.user(presentedToken(request, tokenInQuery));
        if (typeof user === 'string') throw USER_REFUSALS[user]();
        request.user = user;
      } else if (access === 'admin') {
        const who = auth.admin(presentedToken(request, tokenInQuery));
        if (who !== 'admin') throw ADMIN_REFUSALS[who]();
      }
      done();
    } catch (err) {
      // A refused WebSocket upgrade holds a raw socket no HTTP keep-alive logic will reclaim: close it.
      if (request.raw.headers.upgrade) {
        reply.header('connection', 'close');
        reply.raw.once('finish', () => request.raw.socket.destroySoon());
      }
      done(err as Error);
    }
  });
}
