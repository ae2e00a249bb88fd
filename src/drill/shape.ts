/**
 * Reading JSON from the target without trusting it: small accessors that either return the typed
 * field or throw a ShapeError naming what was expected. The audit treats a malformed answer as a
 * finding, not a crash.
 */

export class ShapeError extends Error {
  override name = 'ShapeError';
}

export type Json = Record<string, unknown>;

export function asObject(x: unknown, what: string): Json {
  if (x === null || typeof x !== 'object' || Array.isArray(x))
    throw new ShapeError(`${what}: expected a JSON object`);
  return x as Json;
}

export function asArray(x: unknown, what: string): unknown[] {
  if (!Array.isArray(x)) throw new ShapeError(`${what}: expected a JSON array`);
  return x;
}

export function str(o: Json, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new ShapeError(`${what}.${key}: expected a string`);
  return v;
}

export function optStr(o: Json, key: string, what: string): string | undefined {
  return o[key] === undefined || o[key] === null ? undefined : str(o, key, what);
}

export function int(o: Json, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new ShapeError(`${what}.${key}: expected an integer`);
  return v;
}
