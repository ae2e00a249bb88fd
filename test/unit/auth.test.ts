/**
 * The synchronous HS256 verifier on the hot path must accept exactly what jose accepts for our
 * tokens: checked against jose's own jwtVerify on valid, tampered, expired and foreign tokens.
 */
import { jwtVerify, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { Auth } from '../../src/infra/tokens.js';

const SECRET = 'unit-test-secret-unit-test-secret-0123456789';
const auth = new Auth(SECRET, 'admin-token-admin-token');
const key = new TextEncoder().encode(SECRET);

async function joseAccepts(token: string): Promise<boolean> {
  try {
    await jwtVerify(token, key, { issuer: 'stampede', algorithms: ['HS256'], requiredClaims: ['exp'] });
    return true;
  } catch {
    return false;
  }
}

function oursAccepts(token: string): boolean {
  try {
    auth.verify(token);
    return true;
  } catch {
    return false;
  }
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe('HS256 verification', () => {
  it('accepts the tokens it signs and reads the user from them', async () => {
    const token = await auth.sign({ id: '42', name: 'ann' });
    expect(auth.verify(token).user).toEqual({ id: '42', name: 'ann' });
    expect(await joseAccepts(token)).toBe(true);
    const { payload, protectedHeader } = await jwtVerify(token, key, { issuer: 'stampede' });
    expect(protectedHeader).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(payload).toMatchObject({ sub: '42', name: 'ann', iss: 'stampede' });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(30 * 24 * 3600);
  });

  it('agrees with jose on tampered, expired, foreign and malformed tokens', async () => {
    const good = await auth.sign({ id: '7', name: 'bob' });
    const [h, p, s] = good.split('.');
    const now = Math.floor(Date.now() / 1000);
    const signWith = (claims: Record<string, unknown>, secret = key, alg = 'HS256') =>
      new SignJWT(claims).setProtectedHeader({ alg }).sign(secret);
    const candidates = [
      good,
      `${h}.${b64({ sub: '8', iss: 'stampede', exp: now + 60 })}.${s}`, // payload swapped
      `${h}.${p}.${s.slice(0, -2)}AA`, // signature altered
      `${b64({ alg: 'none' })}.${p}.`, // alg none
      `${b64({ alg: 'HS512' })}.${p}.${s}`, // header swapped
      await signWith({ sub: '7', iss: 'stampede', exp: now - 10 }), // expired
      await signWith({ sub: '7', iss: 'someone-else', exp: now + 60 }), // wrong issuer
      await signWith({ sub: '7', iss: 'stampede' }), // no exp
      await signWith({ sub: '7', iss: 'stampede', exp: now + 60, nbf: now + 3600 }), // not yet valid
      await signWith({ sub: '7', iss: 'stampede', exp: now + 60 }, new TextEncoder().encode('x'.repeat(40))), // other key
      'abc',
      'a.b.c',
      `${h}.${p}`,
      '',
    ];
    for (const t of candidates) expect(oursAccepts(t), t).toBe(await joseAccepts(t));
    expect(candidates.filter(oursAccepts)).toEqual([good]);
  });

  it('rejects a subject that is not one of our numeric ids', async () => {
    const t = await new SignJWT({ name: 'x' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('../admin')
      .setIssuer('stampede')
      .setExpirationTime('1h')
      .sign(key);
    expect(oursAccepts(t)).toBe(false);
  });
});
