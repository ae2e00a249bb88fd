/**
 * Tokens: users carry a signed JWT (HS256) naming them; admins present ADMIN_TOKEN.
 *
 * Tokens are signed and verified synchronously with node:crypto (HMAC-SHA256 + timingSafeEqual,
 * HS256 only, fixed issuer, exp required). jose's WebCrypto path cost ~63 µs of CPU per verification
 * against ~11 µs here (docs/benchmarks.md), the largest single cost of an issue request, and stalled the
 * event loop when signing thousands at once. test/unit/auth.test.ts checks jose agrees both ways.
 * Verified tokens are also cached (bounded, until expiry) because a spike resends the same tokens.
 */
import { createHash, createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

export interface UserPrincipal {
  id: string;
  name: string;
}

/** Why a presented token names no user. */
export type TokenRefusal = 'missing' | 'expired' | 'invalid' | 'admin';

const ISSUER = 'stampede';
const TOKEN_TTL_SECONDS = 30 * 24 * 3600;
const CACHE_MAX = 200_000;
const HEADER_B64 = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');

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
   * The user a presented token names, or why it names nobody. A value, not an exception: the
   * access hook asks on every user route, and refusals are most of an attack's traffic.
   */
  user(token: string | null): UserPrincipal | TokenRefusal {
    if (!token) return 'missing';
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
      if (this.isAdminToken(token)) return 'admin';
      return err.message === 'expired' ? 'expired' : 'invalid';
    }
  }

  /** A key for another signer (waiting-room passes...), derived from the JWT secret, never the secret itself. */
  subkey(purpose: string): Buffer {
    return createHmac('sha256', this.hmacKey).update(`stampede:subkey:${purpose}`).digest();
  }

  isAdminToken(token: string): boolean {
    return timingSafeEqual(digest(token), this.adminDigest);
  }

  /** 'admin' for the admin token; otherwise why not ('user': a valid user token). */
  admin(token: string | null): 'admin' | 'missing' | 'invalid' | 'user' {
    if (!token) return 'missing';
    if (this.isAdminToken(token)) return 'admin';
    try {
      this.verify(token);
    } catch {
      return 'invalid';
    }
    return 'user';
  }
}
