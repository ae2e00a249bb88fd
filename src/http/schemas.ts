/**
 * The shared request and response schemas every route uses, and the input rules they carry.
 *
 * Text (every string that is stored or shown back):
 *   - `Text({ max })`: one line, 1..max characters, at least one non-whitespace character, no
 *     control character at all (U+0000–U+001F, U+007F–U+009F: NUL, tab, CR, LF, ESC...), no line or
 *     paragraph separator (U+2028, U+2029), no unpaired surrogate. For names.
 *   - `Text({ min: 0, max, multiline: true })`: the same, except that line feed and tab are allowed
 *     and it may be empty or blank. For descriptions.
 *   Lengths are counted in code points (an emoji is one, as ajv's maxLength and PostgreSQL's
 *   char_length count), so a limit here is the column's CHECK limit.
 *
 * Numbers sent as text (query string, path parameters, headers): `QueryInteger({ minimum, maximum })`.
 * The value must be written in decimal digits only (no sign, exponent, fraction, spaces, `Infinity`)
 * and lie within the bounds; it reaches the handler as a number. This holds for every `integer` in
 * those parts, not only the ones declared through QueryInteger: `textPartSchema` rewrites them for
 * the validator, because ajv's own coercion turns "Infinity" or "1e400" into Infinity and then
 * skips the range checks. An integer there without both bounds, or any `number`, stops the start.
 *
 * Ids: `IdParam` in paths and `IdText` in bodies (decimal strings of bigint identities; anything
 * else is simply not found, but control characters are refused like in any text).
 */
import { type Static, type TInteger, type TString, Type } from '@sinclair/typebox';
import type { Ajv, ErrorObject } from 'ajv';

/** RFC 9457 problem details, as every error is answered. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable code; see docs/errors.md' }),
  },
  {
    $id: 'Problem',
    description:
      'application/problem+json (RFC 9457). Each operation lists, per status, the codes it may carry; docs/errors.md has every code.',
    examples: [
      {
        type: 'https://stampede.dev/problems/sold-out',
        title: 'Sold out',
        status: 410,
        detail: 'coupon 42 is sold out',
        code: 'SOLD_OUT',
      },
    ],
  },
);

const ref = Type.Ref('Problem');

/**
 * The old way to document errors: any 4xx and any 5xx is a Problem. Prefer `responses()`
 * (src/http/responses.ts), which lists each status an operation answers and the codes it carries;
 * a route still spreading these keeps them, described, beside the statuses installResponseDocs adds.
 */
export const ProblemResponses = {
  '4xx': ref,
  '5xx': ref,
};

export const userSecurity = [{ bearerAuth: [] }];
export const adminSecurity = [{ adminToken: [] }];

// ---------------------------------------------------------------------------------------------
// Text

/** Characters no text may hold: C0 and C1 controls, DEL, U+2028/U+2029, unpaired surrogates. */
const NO_CONTROLS = '\\x00-\\x1F\\x7F-\\x9F\\u2028\\u2029\\p{Cs}';
/** The same, with tab (U+0009) and line feed (U+000A) allowed. */
const NO_CONTROLS_BUT_TAB_LF = '\\x00-\\x08\\x0B-\\x1F\\x7F-\\x9F\\u2028\\u2029\\p{Cs}';

/** The patterns of `Text` (ECMA-262 with the `u` flag, as ajv compiles them). */
export const TEXT_PATTERNS = {
  /** One line with a visible character: names. */
  line: `^(?!\\s*$)[^${NO_CONTROLS}]*$`,
  /** One line, possibly empty or blank. */
  lineOrBlank: `^[^${NO_CONTROLS}]*$`,
  /** Lines (LF) and tabs allowed, with a visible character. */
  multiline: `^(?!\\s*$)[^${NO_CONTROLS_BUT_TAB_LF}]*$`,
  /** Lines (LF) and tabs allowed, possibly empty or blank: descriptions. */
  multilineOrBlank: `^[^${NO_CONTROLS_BUT_TAB_LF}]*$`,
} as const;

/** What a `detail` says when a value breaks a pattern above (instead of quoting the regex). */
const TEXT_PATTERN_MESSAGES: Record<string, string> = {
  [TEXT_PATTERNS.line]:
    'must be one line of text with a visible character and no control characters (tab, CR, LF, NUL...)',
  [TEXT_PATTERNS.lineOrBlank]: 'must be one line of text with no control characters (tab, CR, LF, NUL...)',
  [TEXT_PATTERNS.multiline]:
    'must be text with a visible character and no control characters other than line feed and tab',
  [TEXT_PATTERNS.multilineOrBlank]: 'must be text with no control characters other than line feed and tab',
};

/** The sentence for a broken text pattern, or undefined for any other pattern. */
export function textPatternMessage(pattern: unknown): string | undefined {
  return typeof pattern === 'string' ? TEXT_PATTERN_MESSAGES[pattern] : undefined;
}

export interface TextRules {
  /** Fewest code points (default 1). With min ≥ 1 the text must also hold a visible character. */
  min?: number;
  /** Most code points; the column's CHECK limit. */
  max: number;
  /** Allow line feed and tab (descriptions); never CR, NUL or any other control character. */
  multiline?: boolean;
  description?: string;
}

/** A stored text field: see the rules at the top of this file. */
export function Text(rules: TextRules): TString {
  const min = rules.min ?? 1;
  const visible = min >= 1;
  const pattern = rules.multiline
    ? visible
      ? TEXT_PATTERNS.multiline
      : TEXT_PATTERNS.multilineOrBlank
    : visible
      ? TEXT_PATTERNS.line
      : TEXT_PATTERNS.lineOrBlank;
  return Type.String({
    minLength: min,
    maxLength: rules.max,
    pattern,
    ...(rules.description ? { description: rules.description } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Ids

/** Ids are decimal strings of bigint identities; anything else is simply not found. */
export const IdParam = Type.String({ minLength: 1, maxLength: 40, pattern: TEXT_PATTERNS.line });
/** An id inside a JSON body (a productId, a userCouponId): the same rule as in a path. */
export const IdText = IdParam;
export const isId = (s: string) => /^[1-9]\d{0,17}$/.test(s);

// ---------------------------------------------------------------------------------------------
// Run tags

/** The rule of a run tag (migrations/006_run_tags.sql checks the same in PostgreSQL). */
export const RUN_TAG_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/**
 * `runTag` of the admin create endpoints and `:runTag` of DELETE /api/v1/admin/runs/:runTag: marks
 * what a rehearsal creates (the drill sends `drill-<UTC time>-<random>`), so it can be told apart
 * and removed; best sellers leave it out by default.
 */
export const RunTag = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: RUN_TAG_PATTERN,
  description:
    'Marks a rehearsal\'s rows (1..64 letters, digits, ".", "_", "-"; the drill sends drill-<time>-<random>): DELETE /api/v1/admin/runs/{runTag} removes them, best sellers leave them out',
});

// ---------------------------------------------------------------------------------------------
// Integers sent as text

export interface IntegerRules {
  minimum: number;
  maximum: number;
  default?: number;
  description?: string;
}

/** An integer in a query string, a path or a header: decimal digits within [minimum, maximum]. */
export function QueryInteger(rules: IntegerRules): TInteger {
  return Type.Integer(rules);
}

/** `?limit=` of every list: 1..100, default 20. */
export const PageLimit = QueryInteger({ minimum: 1, maximum: 100, default: 20 });
/** `?cursor=` of every list: opaque, checked by decodeCursor (src/http/pagination.ts). */
export const PageCursor = Type.String({ maxLength: 64 });
/** The query string of every paginated list. */
export const PageQuery = Type.Object({ cursor: Type.Optional(PageCursor), limit: PageLimit });
export type PageQuery = Static<typeof PageQuery>;

/** The ajv keyword that checks and converts an integer written as text (see textPartSchema). */
export const INTEGER_TEXT_KEYWORD = 'integerText';

interface IntegerTextSchema {
  minimum: number;
  maximum: number;
}

type KeywordValidate = ((
  schema: IntegerTextSchema,
  data: unknown,
  parentSchema: unknown,
  ctx?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
) => boolean) & { errors?: Partial<ErrorObject>[] };

/**
 * Registers `integerText` on an ajv instance that validates query strings, params and headers.
 * Accepts a string of decimal digits (or a one-element array of one, as a repeated key is not), or
 * a number (a schema default); anything else, or a value out of range, fails with a message that
 * states the rule. On success the value is replaced by the number.
 */
export function addTextPartKeywords(ajv: Ajv): Ajv {
  const validate: KeywordValidate = (schema, data, _parentSchema, ctx) => {
    const raw = Array.isArray(data) && data.length === 1 ? data[0] : data;
    let n = Number.NaN;
    if (typeof raw === 'string' && /^[0-9]+$/.test(raw)) n = Number(raw);
    else if (typeof raw === 'number' && Number.isInteger(raw)) n = raw;
    if (!(n >= schema.minimum && n <= schema.maximum)) {
      validate.errors = [
        {
          keyword: INTEGER_TEXT_KEYWORD,
          message: `must be a whole number from ${schema.minimum} to ${schema.maximum}, in digits`,
          params: { minimum: schema.minimum, maximum: schema.maximum },
        },
      ];
      return false;
    }
    if (ctx) ctx.parentData[ctx.parentDataProperty] = n;
    return true;
  };
  ajv.addKeyword({
    keyword: INTEGER_TEXT_KEYWORD,
    schemaType: 'object',
    modifying: true,
    errors: true,
    validate,
  });
  return ajv;
}

type Json = unknown;

/**
 * The schema a text part (querystring, params, headers) is validated with: every `integer` node
 * becomes `{ integerText: { minimum, maximum } }` with no `type` (so ajv does not coerce it first),
 * keeping `default` and `description`. Throws, at route registration, for an integer without both
 * bounds or for any `number`. The route's own schema (and so the OpenAPI document) is not changed.
 */
export function textPartSchema(schema: Json, at = 'schema'): Json {
  if (Array.isArray(schema)) return schema.map((s, i) => textPartSchema(s, `${at}[${i}]`));
  if (schema === null || typeof schema !== 'object') return schema;
  const node = schema as Record<string, Json>;
  const type = node.type;
  if (type === 'number' || (Array.isArray(type) && type.includes('number')))
    throw new Error(`${at}: numbers in a query string, path or header must be integers (QueryInteger)`);
  if (type === 'integer' || (Array.isArray(type) && type.includes('integer'))) {
    const { minimum, maximum } = node;
    if (type !== 'integer' || typeof minimum !== 'number' || typeof maximum !== 'number')
      throw new Error(`${at}: an integer in a query string, path or header needs a minimum and a maximum`);
    for (const k of ['exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'const', 'enum'])
      if (k in node) throw new Error(`${at}: QueryInteger takes only minimum, maximum and default (${k})`);
    const out: Record<string, Json> = { [INTEGER_TEXT_KEYWORD]: { minimum, maximum } };
    if ('default' in node) out.default = node.default;
    if ('description' in node) out.description = node.description;
    return out;
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(node)) out[k] = textPartSchema(v, `${at}.${k}`);
  return out;
}
