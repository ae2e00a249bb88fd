import { Type } from '@sinclair/typebox';

/** RFC 9457 problem details, as every error is answered. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable machine-readable code; see docs/errors.md' }),
  },
  { $id: 'Problem', description: 'application/problem+json (RFC 9457)' },
);

const ref = Type.Ref('Problem');

/** Documented error responses; spread into each route's `response`. */
export const ProblemResponses = {
  '4xx': ref,
  '5xx': ref,
};

export const userSecurity = [{ bearerAuth: [] }];
export const adminSecurity = [{ adminToken: [] }];

/** Ids are decimal strings of bigint identities; anything else is simply not found. */
export const IdParam = Type.String({ minLength: 1, maxLength: 40 });
export const isId = (s: string) => /^[1-9]\d{0,17}$/.test(s);
