/**
 * Actors: users carry a signed JWT (HS256) naming them; admins present ADMIN_TOKEN.
 *
 * Tokens are signed and verified synchronously with node:crypto (HMAC-SHA256 + timingSafeEqual,
 * HS256 only, fixed issuer, exp required). jose's WebCrypto path cost ~63 µs of CPU per verification
 * against ~11 µs here (docs/benchmarks.md), the largest single cost of an issue request, and stalled the
 * event loop when signing thousands at once. test/unit/auth.test.ts checks jose agrees both ways.
 * Verified tokens are also cached (bounded, until expiry) because a spike resends the same tokens.
 */
import { createHash, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { appError } from './errors.js';

export interface UserPrincipal {
  id: string;
  name: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    user?: UserPrincipal;
  }
}

const ISSUER = 'stampede';
const TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const CACHE_MAX = 200_000;
const HEADER_B64 = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

function bearer(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : null;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

class InvalidToken extends Error {}

function decodeJson(part: string): Record<string, unknown> {
  const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidToken('not an object');
  return v as Record<string, unknown>;
}

export class Auth {
  private readonly hmacKey: KeyObject;
  private readonly adminDigest: Buffer;
  private readonly cache = new Map<string, { user: UserPrincipal; exp: number }>();

  constructor(jwtSecret: string, adminToken: string) {
    this.hmacKey = createSecretKey(Buffer.from(jwtSecret, 'utf8'));
    this.adminDigest = digest(adminToken);
  }

  /**
   * Verifies an HS256 JWT of ours: signature, `iss`, `exp` (required), `nbf` (if any), numeric `sub`.
   * Throws InvalidToken with the reason; never trusts the header beyond checking alg is HS256.
   */
  verify(token: string, nowSec = Date.now() / 1000): { user: UserPrincipal; exp: number } {
    const parts = token.split('.');
    if (parts.length !== 3) throw new InvalidToken('malformed');
    const [h, p, sig] = parts;
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = decodeJson(h);
      payload = decodeJson(p);
    } catch {
      throw new InvalidToken('malformed');
    }
    if (header.alg !== 'HS256' || header.crit !== undefined) throw new InvalidToken('unsupported algorithm');
    const expected = createHmac('sha256', this.hmacKey).update(`${h}.${p}`).digest();
    const given = Buffer.from(sig, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new InvalidToken('bad signature');
    if (payload.iss !== ISSUER) throw new InvalidToken('wrong issuer');
    if (typeof payload.exp !== 'number' || payload.exp <= nowSec) throw new InvalidToken('expired');
    if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowSec)) {
      throw new InvalidToken('not yet valid');
    }
    if (typeof payload.sub !== 'string' || !/^\d{1,18}$/.test(payload.sub))
      throw new InvalidToken('bad subject');
    return {
      user: { id: payload.sub, name: typeof payload.name === 'string' ? payload.name : '' },
      exp: payload.exp,
    };
  }

  /**
   * Signs a user token (HS256, iss, iat, exp, sub, name) synchronously: bulk creation signs up to
   * 10,000 at once, and jose's WebCrypto path took ~100 µs each and stalled the event loop for a
   * second. test/unit/auth.test.ts checks jose verifies what this signs.
   */
  async sign(user: UserPrincipal): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const h = HEADER_B64;
    const p = Buffer.from(
      JSON.stringify({ name: user.name, sub: user.id, iss: ISSUER, iat: now, exp: now + TOKEN_TTL_SECONDS }),
    ).toString('base64url');
    const sig = createHmac('sha256', this.hmacKey).update(`${h}.${p}`).digest('base64url');
    return `${h}.${p}.${sig}`;
  }

  /**
   * The user a presented token names; 401 UNAUTHENTICATED without a valid one, 403 FORBIDDEN for
   * the admin token. Synchronous: the access hook calls it on every user route.
   */
  user(token: string | null): UserPrincipal {
    if (!token) throw appError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    const nowSec = Date.now() / 1000;
    const hit = this.cache.get(token);
    if (hit && hit.exp > nowSec) return hit.user;
    try {
      const verified = this.verify(token, nowSec);
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(token, verified);
      return verified.user;
    } catch (err) {
      if (!(err instanceof InvalidToken)) throw err;
      if (this.isAdminToken(token)) throw appError('FORBIDDEN', 'the admin token cannot act as a user');
      throw appError(
        'UNAUTHENTICATED',
        err.message === 'expired' ? 'the token has expired' : 'the token is not valid',
      );
    }
  }

  private isAdminToken(token: string): boolean {
    return timingSafeEqual(digest(token), this.adminDigest);
  }

  /** 401 without a token, 403 with a valid user token, passes with the admin token. */
  admin(token: string | null): void {
    if (!token) throw appError('UNAUTHENTICATED', 'send Authorization: Bearer <ADMIN_TOKEN>');
    if (this.isAdminToken(token)) return;
    try {
      this.verify(token);
    } catch {
      throw appError('UNAUTHENTICATED', 'the token is not valid');
    }
    throw appError('FORBIDDEN', 'admin endpoints need the admin token');
  }
}

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
      if (access === 'user') request.user = auth.user(presentedToken(request, tokenInQuery));
      else if (access === 'admin') auth.admin(presentedToken(request, tokenInQuery));
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
