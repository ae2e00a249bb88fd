/**
 * Waiting-room passes: `<payload>.<signature>`, base64url, HMAC-SHA256 with a key derived from the
 * JWT secret. A pass names its room, its user, its place (seq) and its expiry, so it cannot be
 * shared (another user's pass is refused) or stretched (the expiry is signed). It is stateless:
 * the same admission always yields the same pass, on any process.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface PassClaims {
  roomId: string;
  userId: string;
  seq: number;
  /** ms since epoch */
  expiresAt: number;
}

export type PassCheck =
  | { ok: true; claims: PassClaims }
  | { ok: false; why: 'missing' | 'forged' | 'other' | 'expired' };

export class PassSigner {
  constructor(private readonly key: Buffer) {}

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.key).update(payload).digest();
  }

  sign(c: PassClaims): string {
    const payload = Buffer.from(JSON.stringify([c.roomId, c.userId, c.seq, c.expiresAt])).toString(
      'base64url',
    );
    return `${payload}.${this.mac(payload).toString('base64url')}`;
  }

  /** Checks a presented pass for this room and user at nowMs. */
  check(pass: string | undefined, roomId: string, userId: string, nowMs: number): PassCheck {
    if (!pass) return { ok: false, why: 'missing' };
    const dot = pass.indexOf('.');
    if (dot <= 0 || pass.length > 512) return { ok: false, why: 'forged' };
    const payload = pass.slice(0, dot);
    const given = Buffer.from(pass.slice(dot + 1), 'base64url');
    const expected = this.mac(payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, why: 'forged' };
    let parts: unknown;
    try {
      parts = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, why: 'forged' };
    }
    if (!Array.isArray(parts) || parts.length !== 4) return { ok: false, why: 'forged' };
    const [r, u, seq, exp] = parts as [unknown, unknown, unknown, unknown];
    if (typeof r !== 'string' || typeof u !== 'string' || typeof seq !== 'number' || typeof exp !== 'number')
      return { ok: false, why: 'forged' };
    if (r !== roomId || u !== userId) return { ok: false, why: 'other' };
    if (exp <= nowMs) return { ok: false, why: 'expired' };
    return { ok: true, claims: { roomId: r, userId: u, seq, expiresAt: exp } };
  }
}
