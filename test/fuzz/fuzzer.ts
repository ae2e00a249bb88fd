/**
 * A fuzzer driven by the served OpenAPI document (GET /docs/json): for every operation under /api/
 * it sends generated malformed requests against a real server and checks each answer.
 *
 * Generators (each request is a valid request from the operation's schemas with one or more
 * mutations): wrong types, numbers at and beyond their bounds (1e400, -0, 2^53+1, fractions, as raw
 * JSON), strings at and beyond their lengths, NUL and every class of control character, unpaired
 * surrogates, bidi and zero-width characters, emoji; missing and extra properties (`__proto__`,
 * `constructor`), deep nesting, whole bodies that are not JSON or not UTF-8, every kind of content
 * type; query values and query strings of every shape; path parameters that are not ids, too long,
 * badly percent-encoded; tokens none / garbage / malformed / admin / user / another user; unrouted
 * methods. Raw-socket cases corrupt the HTTP framing itself (node:net): unknown methods, spaces
 * and NUL in the path, no Host, bad Content-Length, bad chunking, oversized headers, other
 * protocols, unsupported Expect, CONNECT, a body cut short.
 *
 * Oracles, on every answer: no 5xx; every 4xx is problem+json ({type,title,status,detail,code},
 * `status` equal to the HTTP status, `code` one of ERRORS with that status); no body holds a stack
 * trace, an internal path or a database message; every raw-socket case gets an answer. Memory growth
 * is the caller's oracle (it knows where the server runs).
 *
 * Seeded: the same seed sends the same requests, date-times aside (each request's generator is
 * seeded by the run's seed, its operation and its index, whatever the interleaving); `FUZZ_SEED`
 * replays a run against the same API.
 */
import { randomInt } from 'node:crypto';
import { Agent, request } from 'undici';
import { ERRORS } from '../../src/http/errors.js';
import { rawRequest } from './raw-http.js';

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** 32-bit mix of numbers (splitmix-like), for deriving per-request seeds. */
export function mix(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** sfc32: small, fast, and good enough to drive a fuzzer. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Partial<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [k, w] of entries) {
      r -= w;
      if (r < 0) return k;
    }
    return entries[entries.length - 1][0];
  }
}

/** The run's seed: FUZZ_SEED when set (a replay), otherwise a fresh random one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FUZZ_SEED;
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
      throw new Error(`FUZZ_SEED must be an integer 0..4294967295; got "${raw}"`);
    return n;
  }
  return randomInt(0, 0xffffffff);
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document

export type Schema = Record<string, unknown>;
export type Access = 'public' | 'user' | 'admin';

export interface Param {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: Schema;
}

export interface Operation {
  /** "POST /api/v1/orders" */
  id: string;
  method: string;
  /** OpenAPI template, e.g. /api/v1/coupons/{couponId} */
  path: string;
  params: Param[];
  body?: Schema;
  access: Access;
}

interface OpenApiDoc {
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components?: { schemas?: Record<string, Schema> };
}

/** Resolves local `$ref`s (#/components/schemas/...) of the document. */
function deref(doc: OpenApiDoc, schema: unknown, depth = 0): Schema {
  if (!schema || typeof schema !== 'object' || depth > 20) return (schema ?? {}) as Schema;
  const s = schema as Schema;
  if (typeof s.$ref === 'string') {
    const name = s.$ref.split('/').pop() ?? '';
    return deref(doc, doc.components?.schemas?.[name], depth + 1);
  }
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' && v && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, deref(doc, ps, depth + 1)]));
    } else if ((k === 'items' || k === 'additionalProperties') && v && typeof v === 'object') {
      out[k] = deref(doc, v, depth + 1);
    } else if ((k === 'anyOf' || k === 'oneOf' || k === 'allOf') && Array.isArray(v)) {
      out[k] = v.map((x) => deref(doc, x, depth + 1));
    } else out[k] = v;
  }
  return out;
}

/** Every operation of the document whose path starts with `prefix`. */
export function operationsOf(docJson: unknown, prefix = '/api/'): Operation[] {
  const doc = docJson as OpenApiDoc;
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith(prefix)) continue;
    for (const [m, o] of Object.entries(methods)) {
      const method = m.toUpperCase();
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) continue;
      const security = (o.security as Record<string, unknown>[] | undefined) ?? [];
      const names = security.flatMap((s) => Object.keys(s));
      const access: Access = names.includes('adminToken')
        ? 'admin'
        : names.includes('bearerAuth')
          ? 'user'
          : 'public';
      const params = ((o.parameters as Record<string, unknown>[] | undefined) ?? []).map((p) => ({
        name: String(p.name),
        in: p.in as Param['in'],
        required: Boolean(p.required),
        schema: deref(doc, p.schema),
      }));
      const content = (o.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined)
        ?.content;
      const body = content?.['application/json']?.schema;
      ops.push({
        id: `${method} ${path}`,
        method,
        path,
        params,
        access,
        ...(body ? { body: deref(doc, body) } : {}),
      });
    }
  }
  return ops;
}

// ---------------------------------------------------------------------------------------------
// Values

/** A JSON text spliced into a body verbatim (numbers JSON.stringify cannot write: 1e400, -0). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify that writes RawJson values verbatim. */
export function toJson(value: unknown): string {
  const raws: string[] = [];
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `\u0001raw${raws.length - 1}\u0001`;
    }
    return v;
  });
  if (text === undefined) return 'null';
  return raws.length === 0 ? text : text.replace(/"\\u0001raw(\d+)\\u0001"/g, (_m, i) => raws[Number(i)]);
}

/** What the generators know about the server's data: tokens and ids that exist. */
export interface FuzzContext {
  adminToken: string;
  userToken: string;
  /** Another user's token: their orders must be invisible to `userToken`. */
  otherUserToken: string;
  /** Real ids by parameter or field name (couponId, productId, orderId, userCouponId). */
  ids: Record<string, string[]>;
  /**
   * Send valid values at the top of large ranges too (10,000 users or products in one request);
   * off for quick runs, where only the invalid side of those bounds is sent.
   */
  heavy: boolean;
}

const SAFE_WORDS = ['ann', 'Bob', 'drop 1', 'Été', '漢字', 'café', 'x', 'Ñandú', 'a-b_c', '😀 ok', 'Zoë'];

/** Strings every text field gets thrown at it. None contains an oracle marker (see checkResponse). */
const NASTY_STRINGS: readonly string[] = [
  '',
  ' ',
  '   ',
  '\u3000',
  '\u0000',
  'a\u0000b',
  '\u0000'.repeat(50),
  '\t',
  'a\tb',
  '\n',
  'a\nb',
  '\r\n',
  'a\rb',
  '\u0007',
  '\u0008',
  '\u000b',
  '\u000c',
  '\u001b[31mred\u001b[0m',
  '\u001f',
  '\u007f',
  '\u0080',
  '\u0085',
  '\u009f',
  '\u2028',
  '\u2029',
  '\ud800',
  '\udfff',
  'a\ud83d',
  '\ude00b',
  '\ufeff',
  '\ufeffname',
  '\ufffe',
  '\uffff',
  '\u202etxt.exe',
  '\u200b',
  '\u200d',
  '😀',
  '👨‍👩‍👧‍👦',
  'e\u0301\u0301\u0301',
  'İı',
  'ﬃ',
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  "\\'",
  '\\',
  '\\u0000',
  '%00',
  '%',
  '%zz',
  '../../../etc/passwd',
  '<script>alert(1)</script>',
  '{{7*7}}',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection probe, sent literally
  '${7*7}',
  '__proto__',
  'constructor',
  'null',
  'NaN',
  'Infinity',
  '-0',
  '1e400',
  '0x10',
  ' leading',
  'trailing ',
];

/** Numbers every integer field gets thrown at it, beside its own bounds. */
const NASTY_NUMBERS: readonly (number | RawJson)[] = [
  0,
  -1,
  0.5,
  1.5,
  -1.5,
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  1e308,
  -1e308,
  5e-324,
  new RawJson('-0'),
  new RawJson('1e400'),
  new RawJson('-1e400'),
  new RawJson('1E2'),
  new RawJson('1.0'),
  new RawJson('1.0000000000000001'),
  new RawJson('9007199254740993'),
  new RawJson('-9223372036854775809'),
  new RawJson('123456789012345678901234567890'),
  new RawJson('0.1e1'),
  new RawJson(`1${'0'.repeat(400)}`),
];

/** Values of the wrong type for anything. */
const CONFUSED: readonly unknown[] = [
  null,
  true,
  false,
  '',
  '1',
  'abc',
  [],
  [1],
  [null],
  {},
  { a: 1 },
  0,
  1.5,
];

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function typeOf(schema: Schema): string | undefined {
  const t = schema.type;
  return Array.isArray(t) ? (t[0] as string) : (t as string | undefined);
}

function branches(schema: Schema): Schema[] | undefined {
  const b = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  return Array.isArray(b) && b.length > 0 ? b : undefined;
}

/** A string that satisfies the schema's length and pattern, or the shortest fallback that does. */
function validString(schema: Schema, rng: Rng, name: string, ctx: FuzzContext): string {
  if (Array.isArray(schema.enum)) return String(rng.pick(schema.enum));
  if (schema.const !== undefined) return String(schema.const);
  const ids = ctx.ids[name];
  if (ids && ids.length > 0 && rng.chance(0.8)) return rng.pick(ids);
  if (schema.format === 'date-time')
    return new Date(Date.now() + rng.int(-3_600, 30 * 86_400) * 1000).toISOString();
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : 64;
  const pattern = typeof schema.pattern === 'string' ? new RegExp(schema.pattern, 'u') : null;
  const fits = (s: string) => [...s].length >= min && [...s].length <= max && (!pattern || pattern.test(s));
  const candidates = [
    rng.pick(SAFE_WORDS),
    `${rng.pick(SAFE_WORDS)} ${rng.int(1, 99_999)}`,
    `k-${rng.int(0, 2 ** 30).toString(36)}-${rng.int(0, 2 ** 30).toString(36)}`,
    String(rng.int(1, 999)),
  ];
  for (const c of candidates) {
    const padded = [...c].length < min ? c + 'x'.repeat(min - [...c].length) : c;
    if (fits(padded)) return padded;
  }
  return 'x'.repeat(Math.max(1, min));
}

function validInteger(schema: Schema, rng: Rng): number {
  const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
  const max = typeof schema.maximum === 'number' ? schema.maximum : min + 1000;
  // Small values: a valid request should be cheap (a bulk of 3 users, not 10,000).
  return rng.int(min, Math.min(max, min + (rng.chance(0.8) ? 3 : 100)));
}

/** A value valid for `schema` (best effort; the server may still refuse it for a business rule). */
export function validValue(schema: Schema, rng: Rng, ctx: FuzzContext, name = ''): unknown {
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return rng.pick(schema.enum);
  const b = branches(schema);
  if (b) return validValue(rng.pick(b), rng, ctx, name);
  if (Array.isArray(schema.allOf)) {
    const merged: Record<string, unknown> = {};
    for (const part of schema.allOf as Schema[]) Object.assign(merged, validValue(part, rng, ctx, name));
    return merged;
  }
  switch (typeOf(schema)) {
    case 'string':
      return validString(schema, rng, name, ctx);
    case 'integer':
      return validInteger(schema, rng);
    case 'number':
      return validInteger(schema, rng) + 0.5;
    case 'boolean':
      return rng.chance(0.5);
    case 'null':
      return null;
    case 'array': {
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const max = typeof schema.maxItems === 'number' ? schema.maxItems : min + 3;
      const n = rng.int(min, Math.min(max, min + 2));
      const items = (schema.items ?? {}) as Schema;
      const out: unknown[] = [];
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        const v = validValue(items, rng, ctx, name);
        // Lists of objects with an id (order lines) are refused when an id repeats: keep them apart.
        const key = isObj(v) && typeof v.productId === 'string' ? v.productId : undefined;
        if (key && seen.has(key)) continue;
        if (key) seen.add(key);
        out.push(v);
      }
      if (out.length < min) out.push(validValue(items, rng, ctx, name));
      return out;
    }
    default: {
      const props = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required as string[] | undefined) ?? []);
      const out: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(props)) {
        if (required.has(k) || rng.chance(0.5)) out[k] = validValue(s, rng, ctx, k);
      }
      return out;
    }
  }
}

/** A value that breaks (or sits exactly on) one of `schema`'s rules. */
export function hostileValue(schema: Schema, rng: Rng, ctx: FuzzContext): unknown {
  const b = branches(schema);
  if (b && rng.chance(0.5)) return hostileValue(rng.pick(b), rng, ctx);
  if (rng.chance(0.15)) return rng.pick(CONFUSED);
  switch (typeOf(schema) ?? (b ? 'string' : undefined)) {
    case 'string': {
      const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
      const max = typeof schema.maxLength === 'number' ? schema.maxLength : 256;
      const how = rng.weighted({ nasty: 5, embedded: 3, length: 3, random: 2 });
      if (how === 'nasty') return rng.pick(NASTY_STRINGS);
      if (how === 'embedded')
        return `${rng.pick(SAFE_WORDS)}${rng.pick(NASTY_STRINGS)}${rng.pick(SAFE_WORDS)}`;
      if (how === 'length')
        return rng.pick([
          'x'.repeat(max),
          'x'.repeat(max + 1),
          '😀'.repeat(max),
          '😀'.repeat(max + 1),
          'é'.repeat(max + 1),
          'e\u0301'.repeat(Math.ceil(max / 2) + 1),
          'x'.repeat(Math.max(0, min - 1)),
          'x'.repeat(Math.min(100_000, max * 10 + 1)),
        ]);
      return randomText(rng, rng.int(1, Math.min(max + 5, 300)));
    }
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
      const max = typeof schema.maximum === 'number' ? schema.maximum : 2 ** 31;
      const bounds: (number | RawJson)[] = [min - 1, max + 1, min, min + 0.5, max - 0.5];
      // The valid top of a large range is expensive (10,000 users in one request): heavy runs only.
      if (ctx.heavy || max <= 1_000) bounds.push(max);
      return rng.chance(0.5) ? rng.pick(bounds) : rng.pick(NASTY_NUMBERS);
    }
    case 'array': {
      const items = (schema.items ?? {}) as Schema;
      const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const max = typeof schema.maxItems === 'number' ? schema.maxItems : 100;
      const choice = rng.weighted({
        empty: 2,
        tooMany: ctx.heavy || max <= 1_000 ? 2 : 0,
        badItem: 4,
        nested: 1,
      });
      if (choice === 'empty') return min > 0 ? [] : [rng.pick(CONFUSED)];
      if (choice === 'tooMany') {
        const one = validValue(items, rng, ctx);
        return Array.from({ length: max + 1 }, () => one);
      }
      if (choice === 'nested') return [[[[validValue(items, rng, ctx)]]]];
      const out = [validValue(items, rng, ctx), hostileValue(items, rng, ctx)];
      return rng.chance(0.5) ? out.reverse() : out;
    }
    case 'boolean':
      return rng.pick(['true', 0, 1, null, 'false']);
    default: {
      const value = validValue(schema, rng, ctx);
      if (!isObj(value)) return rng.pick(CONFUSED);
      const props = Object.keys((schema.properties ?? {}) as Record<string, Schema>);
      const action = rng.weighted({ drop: 2, extra: 2, field: 4, replace: 1 });
      if (action === 'drop' && props.length > 0) delete value[rng.pick(props)];
      else if (action === 'extra') value[rng.pick(EXTRA_KEYS)] = rng.pick(CONFUSED);
      else if (action === 'field' && props.length > 0) {
        const k = rng.pick(props);
        value[k] = hostileValue(((schema.properties as Record<string, Schema>)[k] ?? {}) as Schema, rng, ctx);
      } else return rng.pick(CONFUSED);
      return value;
    }
  }
}

const EXTRA_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'x',
  'id',
  '',
  ' ',
  'a\u0000b',
  '😀',
  'k'.repeat(300),
];

/** Random code points of every class: ASCII, controls, Latin-1, BMP, astral, lone surrogates. */
function randomText(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const cls = rng.int(0, 9);
    const cp =
      cls <= 3
        ? rng.int(0x20, 0x7e)
        : cls === 4
          ? rng.int(0, 0x1f)
          : cls === 5
            ? rng.int(0x7f, 0xff)
            : cls === 6
              ? rng.int(0x100, 0xd7ff)
              : cls === 7
                ? rng.int(0xd800, 0xdfff)
                : cls === 8
                  ? rng.int(0xe000, 0xffff)
                  : rng.int(0x10000, 0x10ffff);
    s += cp >= 0xd800 && cp <= 0xdfff ? String.fromCharCode(cp) : String.fromCodePoint(cp);
  }
  return s;
}

/** Replaces the value at a random path of `value` (an object/array tree) by a hostile one. */
function mutateSomewhere(value: unknown, schema: Schema, rng: Rng, ctx: FuzzContext): unknown {
  if (!isObj(value) && !Array.isArray(value)) return hostileValue(schema, rng, ctx);
  if (rng.chance(0.2)) return hostileValue(schema, rng, ctx);
  if (Array.isArray(value)) {
    if (value.length === 0) return hostileValue(schema, rng, ctx);
    const i = rng.int(0, value.length - 1);
    value[i] = mutateSomewhere(value[i], (schema.items ?? {}) as Schema, rng, ctx);
    return value;
  }
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const keys = Object.keys(props);
  if (keys.length === 0) return hostileValue(schema, rng, ctx);
  const k = rng.pick(keys);
  value[k] = k in value ? mutateSomewhere(value[k], props[k], rng, ctx) : hostileValue(props[k], rng, ctx);
  return value;
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface FuzzRequest {
  op: string;
  kind: string;
  method: string;
  /** Path and query, already encoded (sent as is). */
  path: string;
  headers: Record<string, string | string[]>;
  body?: string | Buffer;
}

/** Percent-encodes the UTF-8 bytes of `s` (an unpaired surrogate becomes U+FFFD's bytes). */
function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Whole bodies that are not what the schema wants (or not JSON, or not UTF-8 at all). */
function hostileBody(rng: Rng, valid: unknown): string | Buffer {
  const text = toJson(valid);
  const depth = rng.pick([64, 1_000, 20_000, 200_000]);
  return rng.pick<() => string | Buffer>([
    () => 'null',
    () => '[]',
    () => '"text"',
    () => '42',
    () => 'true',
    () => '{',
    () => text.slice(0, Math.max(1, rng.int(0, text.length - 1))),
    () => `${text}garbage`,
    () => `${text}${text}`,
    () => `\ufeff${text}`,
    () => text.replace(/^\{/, '{"__proto__":{"admin":true},'),
    () => text.replace(/^\{/, '{"constructor":{"prototype":{"admin":true}},'),
    () => text.replace(/^\{/, '{,'),
    () => text.replace(/\}$/, ',}'),
    () => text.replace(/:/, ':NaN,"x":'),
    () => `${'['.repeat(depth)}${']'.repeat(depth)}`,
    () => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`,
    () => text.replace(/"([^"]*)"/, '"$1","$1"'),
    () =>
      Buffer.concat([
        Buffer.from('{"name":"'),
        Buffer.from([0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80]),
        Buffer.from('"}'),
      ]),
    () => Buffer.from(text, 'utf16le'),
    () => Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]),
    () => 'name=x&count=1',
    () => ' ',
    () => '',
    () => `{"a":"${'x'.repeat(rng.int(1, 2_000_000))}"}`,
  ])();
}

const CONTENT_TYPES = [
  undefined,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;',
  'application/jsonx',
  'application/problem+json',
  'application/json, text/plain',
  '*/*',
  '',
  `application/json; x=${'y'.repeat(2_000)}`,
  'application/xml',
];

/** Query values for integer parameters (already URL-encoded) that must all be refused or bounded. */
function hostileQueryValue(schema: Schema, rng: Rng): string {
  const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
  const max = typeof schema.maximum === 'number' ? schema.maximum : 100;
  return rng.pick([
    'Infinity',
    '-Infinity',
    '1e400',
    '1e2',
    '1.5',
    '-1',
    '%2B1',
    '+1',
    '0',
    '0x10',
    '9'.repeat(400),
    '',
    '%20',
    '%20 5',
    '5%20',
    '%00',
    '5%00',
    '%zz',
    '%',
    '%E0%A4%A',
    'NaN',
    'null',
    'true',
    '%5B%5D',
    '1,2',
    '%EF%BC%91',
    '%D9%A3',
    '00001',
    String(min),
    String(max),
    String(max + 1),
    String(min - 1),
    pct(rng.pick(NASTY_STRINGS)),
    pct(randomText(rng, rng.int(1, 40))),
    'x'.repeat(rng.int(100, 9_000)),
  ]);
}

/** Query strings of odd shapes for `name` (encoded). */
function hostileQueryShape(name: string, rng: Rng): string {
  return rng.pick([
    `${name}=1&${name}=2`,
    `${name}[]=1`,
    `${name}[0]=1`,
    `${name}[a]=1`,
    `${name}.x=1`,
    `__proto__[${name}]=1`,
    `constructor[prototype][${name}]=1`,
    '&&&',
    '=',
    '==',
    name,
    `;${name}=1`,
    `${name}=1;x=2`,
    Array.from({ length: 1_000 }, (_, i) => `a${i}=1`).join('&'),
    `foo=bar&access_token=${'x'.repeat(50)}`,
    `${name}=1#frag`,
  ]);
}

/** Path parameter values (encoded): not ids, too long, badly encoded, traversal. */
function hostilePathValue(rng: Rng): string {
  return rng.pick([
    '0',
    '-1',
    '1.5',
    '1e3',
    '99999999999999999999',
    '9'.repeat(40),
    '9'.repeat(41),
    'abc',
    '%00',
    '1%00',
    '%2F',
    '%2e%2e',
    '..',
    '.',
    '%E0%A4%A',
    '%C0%80',
    '%',
    '%zz',
    '%ED%A0%80',
    '%FF',
    'a'.repeat(100),
    'a'.repeat(101),
    '1'.repeat(150),
    '%F0%9F%98%80',
    '%20',
    '%2520',
    '%0A',
    '%09',
    '%E2%80%AE',
    pct(rng.pick(NASTY_STRINGS)) || '%00',
    pct(randomText(rng, rng.int(1, 30))) || '%00',
  ]);
}

type TokenKind = 'own' | 'none' | 'garbage' | 'malformed' | 'admin' | 'user' | 'other';

function authHeader(kind: TokenKind, op: Operation, ctx: FuzzContext, rng: Rng): string | undefined {
  const own = op.access === 'admin' ? ctx.adminToken : op.access === 'user' ? ctx.userToken : undefined;
  switch (kind) {
    case 'own':
      return own ? `Bearer ${own}` : undefined;
    case 'none':
      return undefined;
    case 'admin':
      return `Bearer ${ctx.adminToken}`;
    case 'user':
      return `Bearer ${ctx.userToken}`;
    case 'other':
      return `Bearer ${ctx.otherUserToken}`;
    case 'garbage':
      return `Bearer ${rng.pick([
        'abc.def.ghi',
        'x',
        `${ctx.userToken.slice(0, -2)}xx`,
        `${ctx.adminToken}x`,
        'eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.',
        'eyJhbGciOiJIUzI1NiJ9.e30.',
        'x'.repeat(8_000),
        '%00',
      ])}`;
    default:
      return rng.pick([
        'Bearer',
        'Bearer ',
        'bearer ',
        `Basic ${Buffer.from('admin:admin').toString('base64')}`,
        `Bearer ${ctx.userToken} extra`,
        `Bearer  ${ctx.userToken}`,
        `${ctx.userToken}`,
        'Token x',
        '',
        'Bearer é',
      ]);
  }
}

/** Fills the path template with real ids (mostly) or hostile values. */
function fillPath(op: Operation, ctx: FuzzContext, rng: Rng, hostile: boolean): string {
  return op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    if (hostile) return hostilePathValue(rng);
    const ids = ctx.ids[name];
    return ids && ids.length > 0 && rng.chance(0.85) ? rng.pick(ids) : String(rng.int(1, 10_000));
  });
}

function validQuery(op: Operation, ctx: FuzzContext, rng: Rng): [string, string][] {
  const out: [string, string][] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (p.name === 'cursor') {
      if (rng.chance(0.3)) out.push([p.name, Buffer.from(`i:${rng.int(1, 1000)}`).toString('base64url')]);
      continue;
    }
    if (p.required || rng.chance(0.6)) out.push([p.name, String(validValue(p.schema, rng, ctx, p.name))]);
  }
  return out;
}

const encodeQuery = (pairs: [string, string][]) => pairs.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&');

type Kind =
  | 'valid'
  | 'body-field'
  | 'body-whole'
  | 'body-drop'
  | 'body-extra'
  | 'content-type'
  | 'query-value'
  | 'query-shape'
  | 'path-value'
  | 'path-shape'
  | 'auth'
  | 'header'
  | 'method'
  | 'multi';

/** One generated request for `op`; `rng` decides everything. */
export function generateRequest(op: Operation, ctx: FuzzContext, rng: Rng): FuzzRequest {
  const hasBody = op.body !== undefined;
  const query = op.params.filter((p) => p.in === 'query');
  const hasPath = op.path.includes('{');
  const hasHeaders = op.params.some((p) => p.in === 'header');
  const kind = rng.weighted<Kind>({
    valid: 4,
    'body-field': hasBody ? 30 : 0,
    'body-whole': hasBody ? 8 : 1,
    'body-drop': hasBody ? 4 : 0,
    'body-extra': hasBody ? 4 : 0,
    'content-type': hasBody ? 6 : 1,
    'query-value': query.length > 0 ? 20 : 0,
    'query-shape': query.length > 0 ? 6 : 2,
    'path-value': hasPath ? 18 : 0,
    'path-shape': 3,
    auth: 8,
    header: hasHeaders ? 6 : 2,
    method: 2,
    multi: 6,
  });
  const kinds =
    kind === 'multi'
      ? ['body-field', 'query-value', 'path-value', 'auth', 'header'].filter(() => rng.chance(0.6))
      : [kind];
  const has = (k: string) => kinds.includes(k);

  // Path
  let path = fillPath(op, ctx, rng, has('path-value'));
  if (has('path-shape')) {
    path = rng.pick([
      `${path}/`,
      `/${path}`,
      path.toUpperCase(),
      path.replace('/api/v1/', '/api/v1/./'),
      path.replace('/api/v1/', '/api/v1/../v1/'),
      path.replace('/api/v1/', '/api//v1/'),
      `${path}%2F1`,
      `${path};x=1`,
      `${path}/${'a'.repeat(rng.int(200, 12_000))}`,
      `${path}%00`,
      path.replace(/\/([^/]*)$/, '/%E0%A4%A'),
    ]);
  }

  // Query
  let pairs = validQuery(op, ctx, rng);
  let qs = encodeQuery(pairs);
  if (has('query-value') && query.length > 0) {
    const p = rng.pick(query);
    pairs = pairs.filter(([k]) => k !== p.name);
    const v = p.name === 'cursor' ? pct(rng.pick(NASTY_STRINGS)) : hostileQueryValue(p.schema, rng);
    qs = [encodeQuery(pairs), `${pct(p.name)}=${v}`].filter(Boolean).join('&');
  }
  if (has('query-shape')) {
    const name = query.length > 0 ? rng.pick(query).name : 'limit';
    qs = [qs, hostileQueryShape(name, rng)].filter(Boolean).join('&');
  }
  const target = qs ? `${path}?${qs}` : path;

  // Headers
  const headers: Record<string, string | string[]> = {};
  const tokenKind: TokenKind = has('auth')
    ? rng.pick<TokenKind>(['none', 'garbage', 'malformed', 'admin', 'user', 'other'])
    : rng.chance(0.9)
      ? 'own'
      : 'other';
  const auth = authHeader(tokenKind, op, ctx, rng);
  if (auth !== undefined) headers.authorization = auth;
  for (const p of op.params.filter((x) => x.in === 'header')) {
    if (has('header')) {
      headers[p.name] = rng.pick<string | string[]>([
        '',
        ' ',
        'a b',
        'x'.repeat(255),
        'x'.repeat(256),
        'x'.repeat(6_000),
        '\t',
        '%00',
        ['k1', 'k2'],
        'é',
        `k-${rng.int(0, 1e9)}`,
      ]);
    } else if (rng.chance(0.5)) headers[p.name] = `k-${rng.int(0, 1e9)}-${rng.int(0, 1e9)}`;
  }
  if (has('header')) {
    const extra = rng.pick<[string, string]>([
      ['accept', 'application/xml'],
      ['accept', '*/*;q=0'],
      ['accept-encoding', 'gzip;q=1, br'],
      ['x-forwarded-for', 'not-an-ip, ::1, 999.1.1.1'],
      ['x-request-id', randomText(rng, 20).replace(/[^\x21-\x7e]/g, 'x')],
      ['cookie', `a=${'b'.repeat(4_000)}`],
      ['content-encoding', 'gzip'],
      ['if-none-match', '*'],
      ['range', 'bytes=0-1'],
      ['origin', 'null'],
    ]);
    headers[extra[0]] = extra[1];
  }

  // Method
  let method = op.method;
  if (has('method'))
    method = rng.pick(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', op.method === 'GET' ? 'POST' : 'GET']);

  // Body
  let body: string | Buffer | undefined;
  if (hasBody && op.body) {
    const valid = validValue(op.body, rng, ctx);
    let value: unknown = valid;
    if (has('body-field')) value = mutateSomewhere(valid, op.body, rng, ctx);
    if (has('body-drop') && isObj(value)) {
      const keys = Object.keys(value);
      if (keys.length > 0) delete value[rng.pick(keys)];
    }
    if (has('body-extra') && isObj(value)) value[rng.pick(EXTRA_KEYS)] = rng.pick(CONFUSED);
    body = has('body-whole') ? hostileBody(rng, valid) : toJson(value);
  } else if (has('body-whole') || has('content-type')) {
    body = has('body-whole') ? hostileBody(rng, {}) : '{}';
  }
  if (body !== undefined && method !== 'GET' && method !== 'HEAD') {
    const ct = has('content-type') ? rng.pick(CONTENT_TYPES) : 'application/json';
    if (ct !== undefined) headers['content-type'] = ct;
  } else body = undefined;

  return {
    op: op.id,
    kind: kinds.join('+') || 'valid',
    method,
    path: target,
    headers,
    ...(body !== undefined ? { body } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Raw-socket cases

export interface RawCase {
  op: string;
  kind: string;
  bytes: Buffer;
  halfClose?: boolean;
}

/** One request whose HTTP framing itself is broken (or unusual), built around `op`. */
export function generateRawCase(op: Operation, ctx: FuzzContext, rng: Rng): RawCase {
  const path = fillPath(op, ctx, rng, false);
  const body = op.body ? toJson(validValue(op.body, rng, ctx)) : '{}';
  const auth = authHeader('own', op, ctx, rng);
  const common = `Host: 127.0.0.1\r\n${auth ? `Authorization: ${auth}\r\n` : ''}`;
  const json = 'Content-Type: application/json\r\n';
  const m = op.method;
  const cases: Record<string, () => { text: string | Buffer; halfClose?: boolean }> = {
    'unknown-method': () => ({
      text: `${rng.pick(['FOO', 'GETT', 'G ET', 'get', '123', 'PRI'])} ${path} HTTP/1.1\r\n${common}\r\n`,
    }),
    'space-in-path': () => ({ text: `${m} ${path} x HTTP/1.1\r\n${common}\r\n` }),
    'nul-in-path': () => ({ text: Buffer.from(`${m} ${path}\u0000x HTTP/1.1\r\n${common}\r\n`, 'latin1') }),
    'high-bytes-in-path': () => ({
      text: Buffer.concat([
        Buffer.from(`${m} ${path}`),
        Buffer.from([0xc3, 0xa9, 0xff]),
        Buffer.from(` HTTP/1.1\r\n${common}\r\n`),
      ]),
    }),
    'no-host': () => ({ text: `${m} ${path} HTTP/1.1\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n` }),
    'two-hosts': () => ({ text: `${m} ${path} HTTP/1.1\r\n${common}Host: evil\r\n\r\n` }),
    'http10-no-host': () => ({
      text: `${m} ${path} HTTP/1.0\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n`,
    }),
    'bad-version': () => ({
      text: `${m} ${path} HTTP/${rng.pick(['2.0', '9.9', '1.2', '1', 'x'])}\r\n${common}\r\n`,
    }),
    'bare-lf': () => ({ text: `${m} ${path} HTTP/1.1\n${common.replaceAll('\r\n', '\n')}\n` }),
    'content-length-nan': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Content-Length: ${rng.pick(['abc', '-1', '1.5', '0x10', ' ', '99999999999999999999'])}\r\n\r\n${body}`,
    }),
    'content-length-twice': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Content-Length: ${Buffer.byteLength(body)}\r\nContent-Length: ${Buffer.byteLength(body) + 1}\r\n\r\n${body}`,
    }),
    'content-length-and-chunked': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Content-Length: ${Buffer.byteLength(body)}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    }),
    'content-length-short': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Content-Length: ${Buffer.byteLength(body) + 50}\r\n\r\n${body}`,
      halfClose: true,
    }),
    'bad-chunk-size': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Transfer-Encoding: chunked\r\n\r\n${rng.pick(['zz', '-1', 'fffffffffffffffff', ' 2'])}\r\n{}\r\n0\r\n\r\n`,
    }),
    'chunk-cut-short': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Transfer-Encoding: chunked\r\n\r\n100\r\n${body.slice(0, 5)}`,
      halfClose: true,
    }),
    'chunk-extension-flood': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Transfer-Encoding: chunked\r\n\r\n2;${'a'.repeat(20_000)}\r\n{}\r\n0\r\n\r\n`,
    }),
    'unknown-transfer-encoding': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Transfer-Encoding: ${rng.pick(['gzip', 'chunked, gzip', 'identity', 'xchunked'])}\r\n\r\n${body}`,
    }),
    'headers-over-16kb': () => ({
      text: `${m} ${path} HTTP/1.1\r\n${common}X-Big: ${'a'.repeat(rng.int(16_500, 70_000))}\r\n\r\n`,
    }),
    'many-headers': () => ({
      text: `${m} ${path} HTTP/1.1\r\n${common}${Array.from({ length: rng.int(2_100, 4_000) }, (_, i) => `X-${i}: a\r\n`).join('')}\r\n`,
    }),
    'long-url': () => ({
      text: `${m} ${path}?q=${'a'.repeat(rng.int(17_000, 40_000))} HTTP/1.1\r\n${common}\r\n`,
    }),
    'control-in-header': () => ({
      text: Buffer.from(
        `${m} ${path} HTTP/1.1\r\n${common}X-A: a${String.fromCharCode(rng.pick([0, 1, 8, 0x0b, 0x1b, 0x7f]))}b\r\n\r\n`,
        'latin1',
      ),
    }),
    'obs-fold': () => ({ text: `${m} ${path} HTTP/1.1\r\n${common}X-A: a\r\n  b\r\n\r\n` }),
    'space-before-colon': () => ({ text: `${m} ${path} HTTP/1.1\r\n${common}X-A : b\r\n\r\n` }),
    'http2-preface': () => ({ text: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' }),
    http09: () => ({ text: `GET ${path}\r\n\r\n` }),
    'expect-unknown': () => ({
      text: `${m} ${path} HTTP/1.1\r\n${common}Expect: ${rng.pick(['teapot', '100-continue, x', '200-ok'])}\r\n\r\n`,
    }),
    'expect-continue': () => ({
      text: `POST ${path} HTTP/1.1\r\n${common}${json}Expect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    }),
    connect: () => ({ text: 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' }),
    'upgrade-h2c': () => ({
      text: `GET ${path} HTTP/1.1\r\n${common}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
    }),
    'upgrade-websocket-bad-key': () => ({
      text: `GET ${path} HTTP/1.1\r\n${common}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: ${rng.pick(['13', '99'])}\r\nSec-WebSocket-Key: ${rng.pick(['x', '', 'AAAAAAAAAAAAAAAAAAAAAA=='])}\r\n\r\n`,
    }),
    'absolute-form': () => ({ text: `${m} http://evil.example${path} HTTP/1.1\r\n${common}\r\n` }),
    'asterisk-form': () => ({ text: `OPTIONS * HTTP/1.1\r\n${common}\r\n` }),
    'pipelined-garbage': () => ({ text: `GET ${path} HTTP/1.1\r\n${common}\r\n\u0000\u0001garbage\r\n\r\n` }),
  };
  const kind = rng.pick(Object.keys(cases));
  const built = cases[kind]();
  return {
    op: op.id,
    kind: `raw:${kind}`,
    bytes: typeof built.text === 'string' ? Buffer.from(built.text, 'utf8') : built.text,
    halfClose: built.halfClose,
  };
}

// ---------------------------------------------------------------------------------------------
// Oracles

/** Markers of internals that must never reach a client; the generators never send them. */
const INTERNALS: [RegExp, string][] = [
  [/\/work\//, 'internal path (/work/)'],
  [/node_modules/, 'internal path (node_modules)'],
  [/(^|\\n|\n)\s*at\s+\S/, 'stack trace (a line starting with "at ")'],
  [/\bat\s+[^\s()]+\s+\((?:file:|node:|\/)/, 'stack frame'],
  [/\.(?:ts|js|mjs|cjs):\d+:\d+/, 'source position'],
  [/"stack"\s*:/, 'stack property'],
  [
    /SQLSTATE|syntax error at or near|invalid byte sequence for encoding|violates (?:check|unique|foreign key|not-null) constraint|duplicate key value|out of range for type/i,
    'database message',
  ],
];

/**
 * Checks one answer; returns what is wrong, or null. `status` 0 means no answer arrived. HEAD
 * answers carry no body, so only their status and content type are checked.
 */
export function checkResponse(
  method: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: string,
): string | null {
  if (status === 0) return 'no answer (the connection closed or timed out first)';
  if (status >= 500) return `a ${status}`;
  for (const [re, what] of INTERNALS) if (re.test(body)) return `the body shows a ${what}`;
  if (status < 400) return null;
  const ct = String(headers['content-type'] ?? '');
  if (!/^application\/problem\+json\b/.test(ct))
    return `a ${status} with content-type "${ct}", not problem+json`;
  if (method === 'HEAD') return null;
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return `a ${status} whose body is not JSON`;
  }
  for (const k of ['type', 'title', 'detail', 'code'] as const)
    if (typeof doc[k] !== 'string') return `problem+json without a string "${k}"`;
  if (doc.status !== status) return `problem+json "status" ${String(doc.status)} on a ${status}`;
  const def = (ERRORS as Record<string, { status: number }>)[doc.code as string];
  if (!def) return `unknown code ${String(doc.code)}`;
  if (def.status !== status)
    return `code ${String(doc.code)} is documented as ${def.status}, answered ${status}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Running

export interface Failure {
  op: string;
  kind: string;
  oracle: string;
  status: number;
  request: string;
  body: string;
}

export interface FuzzReport {
  seed: number;
  /** HTTP requests answered (client-side refusals not counted). */
  requests: number;
  rawRequests: number;
  /** Requests the HTTP client itself refused to send (invalid header characters...). */
  notSent: number;
  /**
   * 503 OVERLOADED answers (under-pressure shedding while the shared machine starves the server's
   * event loop), each retried; a request still shed after SHED_RETRIES tries is a failure.
   */
  shed: number;
  byStatus: Record<string, number>;
  byOperation: Record<string, Record<string, number>>;
  byKind: Record<string, Record<string, number>>;
  failureCount: number;
  /** The first failures, in full. */
  failures: Failure[];
  durationMs: number;
}

export interface FuzzOptions {
  baseUrl: string;
  doc: unknown;
  ctx: FuzzContext;
  seed: number;
  /** Generated HTTP requests per operation. */
  perOperation: number;
  /** Raw-socket cases per operation. */
  rawPerOperation: number;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
  /** Failures kept in full (default 50). */
  keepFailures?: number;
  onProgress?: (done: number, total: number) => void;
}

const preview = (b: string | Buffer | undefined, n = 300): string => {
  if (b === undefined) return '';
  const s = typeof b === 'string' ? b : b.toString('latin1');
  return JSON.stringify(s.length > n ? `${s.slice(0, n)}…(${s.length})` : s);
};

function describeRequest(r: FuzzRequest): string {
  const hs = Object.entries(r.headers)
    .map(([k, v]) => `${k}: ${preview(Array.isArray(v) ? v.join(' | ') : v, 80)}`)
    .join('; ');
  return `${r.method} ${preview(r.path, 200)} [${hs}] ${preview(r.body)}`;
}

/** Tries of a request answered 503 OVERLOADED before it counts as a failure. */
const SHED_RETRIES = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A 503 OVERLOADED from load shedding (not from a drain): the machine, not the input. */
function isShed(status: number, body: string): boolean {
  return status === 503 && body.includes('"code":"OVERLOADED"') && !body.includes('shutting down');
}

/** Sends everything, checks every answer; never throws for what the server does. */
export async function fuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const ops = operationsOf(opts.doc);
  if (ops.length === 0) throw new Error('the OpenAPI document lists no /api/ operation');
  const started = Date.now();
  const port = Number(new URL(opts.baseUrl).port);
  const keep = opts.keepFailures ?? 50;
  const report: FuzzReport = {
    seed: opts.seed,
    requests: 0,
    rawRequests: 0,
    notSent: 0,
    shed: 0,
    byStatus: {},
    byOperation: {},
    byKind: {},
    failureCount: 0,
    failures: [],
    durationMs: 0,
  };
  const count = (op: string, kind: string, status: number) => {
    const s = String(status);
    report.byStatus[s] = (report.byStatus[s] ?? 0) + 1;
    report.byOperation[op] ??= {};
    report.byOperation[op][s] = (report.byOperation[op][s] ?? 0) + 1;
    const k = kind.split('+')[0].split(':').slice(0, 2).join(':');
    report.byKind[k] ??= {};
    report.byKind[k][s] = (report.byKind[k][s] ?? 0) + 1;
  };
  const fail = (f: Failure) => {
    report.failureCount += 1;
    if (report.failures.length < keep) report.failures.push(f);
  };

  // Each job is (operation, index); its generator is seeded by (seed, operation, index), so the
  // same seed sends the same requests however the jobs interleave.
  type Job = { opIndex: number; i: number; raw: boolean };
  const jobs: Job[] = [];
  for (let i = 0; i < Math.max(opts.perOperation, opts.rawPerOperation); i++) {
    for (let opIndex = 0; opIndex < ops.length; opIndex++) {
      if (i < opts.perOperation) jobs.push({ opIndex, i, raw: false });
      if (i < opts.rawPerOperation) jobs.push({ opIndex, i, raw: true });
    }
  }
  const agent = new Agent({ connections: opts.concurrency ?? 16, keepAliveTimeout: 10_000, pipelining: 1 });
  let next = 0;
  let done = 0;

  async function runOne(job: Job): Promise<void> {
    const op = ops[job.opIndex];
    const rng = new Rng(mix(opts.seed, job.opIndex, job.i, job.raw ? 1 : 0));
    if (job.raw) {
      const c = generateRawCase(op, opts.ctx, rng);
      let res = await rawRequest(port, c.bytes, { timeoutMs: 15_000, halfClose: c.halfClose });
      for (let attempt = 1; attempt < SHED_RETRIES && isShed(res.status, res.body); attempt++) {
        report.shed += 1;
        await sleep(100 + Math.random() * 200);
        res = await rawRequest(port, c.bytes, { timeoutMs: 15_000, halfClose: c.halfClose });
      }
      report.rawRequests += 1;
      count(c.op, c.kind, res.status);
      const method = c.bytes.subarray(0, 8).toString('latin1').split(' ')[0];
      const wrong = checkResponse(method, res.status, res.headers, res.body);
      if (wrong)
        fail({
          op: c.op,
          kind: c.kind,
          oracle: wrong,
          status: res.status,
          request: preview(c.bytes),
          body: preview(res.raw, 500),
        });
      return;
    }
    const r = generateRequest(op, opts.ctx, rng);
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let text = '';
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await request(`${opts.baseUrl}${r.path}`, {
          method: r.method,
          headers: r.headers,
          body: r.body,
          dispatcher: agent,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        status = res.statusCode;
        headers = res.headers;
        // An event stream that opened is a success that never ends (the live view): hang up.
        if (status === 200 && String(res.headers['content-type'] ?? '').startsWith('text/event-stream'))
          res.body.on('error', () => {}).destroy(); // undici reports the hang-up as an AbortError
        else text = await res.body.text();
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        // The client refused to send it (header or path characters): nothing reached the server.
        if (code === 'UND_ERR_INVALID_ARG' || err instanceof TypeError) {
          report.notSent += 1;
          return;
        }
        status = 0;
        text = `client error ${code}: ${(err as Error).message}`;
      }
      if (attempt >= SHED_RETRIES || !isShed(status, text)) break;
      report.shed += 1;
      await sleep(100 + Math.random() * 200);
    }
    report.requests += 1;
    count(r.op, r.kind, status);
    const wrong = checkResponse(r.method, status, headers, text);
    if (wrong)
      fail({
        op: r.op,
        kind: r.kind,
        oracle: wrong,
        status,
        request: describeRequest(r),
        body: preview(text, 500),
      });
  }

  async function worker(): Promise<void> {
    for (;;) {
      const job = jobs[next++];
      if (!job) return;
      await runOne(job);
      done += 1;
      if (opts.onProgress && done % 500 === 0) opts.onProgress(done, jobs.length);
    }
  }
  try {
    await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, () => worker()));
  } finally {
    await agent.close();
  }
  report.durationMs = Date.now() - started;
  return report;
}

/** A readable summary: seed (to replay), counts by status, operation and kind, the failures. */
export function formatReport(r: FuzzReport): string {
  const statuses = (m: Record<string, number>) =>
    Object.entries(m)
      .sort(([a], [b]) => Number(a) - Number(b))
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
  const lines = [
    `fuzz seed ${r.seed} (replay: FUZZ_SEED=${r.seed}): ${r.requests} HTTP requests + ${r.rawRequests} raw-socket cases in ${(r.durationMs / 1000).toFixed(1)} s (${r.notSent} not sent by the client, ${r.shed} retries after load shedding)`,
    `  statuses: ${statuses(r.byStatus)}`,
    '  by operation:',
    ...Object.entries(r.byOperation).map(([op, m]) => `    ${op.padEnd(42)} ${statuses(m)}`),
    '  by kind:',
    ...Object.entries(r.byKind)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, m]) => `    ${k.padEnd(42)} ${statuses(m)}`),
    `  failures: ${r.failureCount}`,
    ...r.failures.map(
      (f) =>
        `    [${f.op} ${f.kind}] ${f.oracle}\n      request: ${f.request}\n      answer:  ${f.status} ${f.body}`,
    ),
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Setup

/** The served OpenAPI document (GET /docs/json), retried while the server sheds load. */
export async function fetchOpenApi(baseUrl: string): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    const res = await request(`${baseUrl}/docs/json`);
    const text = await res.body.text();
    if (attempt < SHED_RETRIES && isShed(res.statusCode, text)) {
      await sleep(100 + Math.random() * 200);
      continue;
    }
    if (res.statusCode !== 200) throw new Error(`GET /docs/json → ${res.statusCode} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }
}

/**
 * Creates what the generators aim at: two users (one with points), a product, a coupon, an
 * order and the user's coupon, through the API itself. Returns the context for `fuzz`.
 */
export async function prepareContext(
  baseUrl: string,
  adminToken: string,
  heavy: boolean,
): Promise<FuzzContext> {
  const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    for (let attempt = 1; ; attempt++) {
      const res = await request(`${baseUrl}${path}`, {
        method: method as 'GET' | 'POST',
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      if (attempt < SHED_RETRIES && isShed(res.statusCode, text)) {
        await sleep(100 + Math.random() * 200);
        continue;
      }
      if (res.statusCode >= 300) throw new Error(`fuzz setup: ${method} ${path} → ${res.statusCode} ${text}`);
      return JSON.parse(text) as Record<string, unknown>;
    }
  };
  const user = await call('POST', '/api/v1/users', undefined, { name: 'fuzz-user' });
  const other = await call('POST', '/api/v1/users', undefined, { name: 'fuzz-other' });
  const userToken = String(user.token);
  await call('POST', '/api/v1/me/points/charge', userToken, { amount: 1_000_000 });
  const product = await call('POST', '/api/v1/admin/products', adminToken, {
    name: 'fuzz product',
    price: 10,
    stock: 1_000_000,
  });
  const coupon = await call('POST', '/api/v1/admin/coupons', adminToken, {
    name: 'fuzz coupon',
    discount: { type: 'AMOUNT', value: 1 },
    quantity: 1_000_000,
  });
  const issued = await call('POST', `/api/v1/coupons/${coupon.id}/issue`, userToken);
  const order = await call('POST', '/api/v1/orders', userToken, {
    items: [{ productId: product.id, quantity: 1 }],
  });
  return {
    adminToken,
    userToken,
    otherUserToken: String(other.token),
    ids: {
      productId: [String(product.id)],
      couponId: [String(coupon.id)],
      orderId: [String(order.orderId)],
      userCouponId: [String(issued.userCouponId)],
    },
    heavy,
  };
}
