/**
 * Actors: users carry a signed JWT (HS256, jose) naming them; admins present ADMIN_TOKEN.
 * Verified user tokens are cached briefly (bounded, until their expiry) because a spike sends the
 * same tokens many times and HMAC verification is the hot path's largest CPU cost.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
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

function bearer(request: FastifyRequest): string | null {
  const h = request.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : null;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class Auth {
  private readonly key: Uint8Array;
  private readonly adminDigest: Buffer;
  private readonly cache = new Map<string, { user: UserPrincipal; exp: number }>();

  constructor(jwtSecret: string, adminToken: string) {
    this.key = new TextEncoder().encode(jwtSecret);
    this.adminDigest = digest(adminToken);
  }

  async sign(user: UserPrincipal): Promise<string> {
    return new SignJWT({ name: user.name })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id)
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(`${TOKEN_TTL_SECONDS}s`)
      .sign(this.key);
  }

  /** The user named by the request's bearer token; 401 UNAUTHENTICATED otherwise. */
  async user(request: FastifyRequest): Promise<UserPrincipal> {
    const token = bearer(request);
    if (!token) throw appError('UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    const nowSec = Date.now() / 1000;
    const hit = this.cache.get(token);
    if (hit && hit.exp > nowSec) return hit.user;
    if (this.isAdminToken(token)) throw appError('FORBIDDEN', 'the admin token cannot act as a user');
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
      if (typeof payload.sub !== 'string' || !/^\d{1,18}$/.test(payload.sub)) throw new Error('bad subject');
      const user = { id: payload.sub, name: typeof payload.name === 'string' ? payload.name : '' };
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(token, { user, exp: payload.exp ?? nowSec + 60 });
      return user;
    } catch (err) {
      const why = err instanceof joseErrors.JWTExpired ? 'the token has expired' : 'the token is not valid';
      throw appError('UNAUTHENTICATED', why);
    }
  }

  private isAdminToken(token: string): boolean {
    return timingSafeEqual(digest(token), this.adminDigest);
  }

  /** 401 without a token, 403 with a valid user token, passes with the admin token. */
  async admin(request: FastifyRequest): Promise<void> {
    const token = bearer(request);
    if (!token) throw appError('UNAUTHENTICATED', 'send Authorization: Bearer <ADMIN_TOKEN>');
    if (this.isAdminToken(token)) return;
    try {
      await jwtVerify(token, this.key, { issuer: ISSUER, algorithms: ['HS256'] });
    } catch {
      throw appError('UNAUTHENTICATED', 'the token is not valid');
    }
    throw appError('FORBIDDEN', 'admin endpoints need the admin token');
  }
}
