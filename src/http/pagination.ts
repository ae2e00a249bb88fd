/**
 * Opaque pagination cursors shared by every list endpoint: a cursor names the last id of the page
 * just returned (base64url, so clients treat it as a token). A cursor this API did not hand out is a
 * 400 VALIDATION_FAILED, never a 5xx.
 */
import { type TSchema, Type } from '@sinclair/typebox';
import { appError } from './errors.js';
import { isId } from './schemas.js';

export function encodeCursor(lastId: string): string {
  return Buffer.from(`i:${lastId}`, 'utf8').toString('base64url');
}

/** The id the cursor names, or null when there is none (first page). */
export function decodeCursor(cursor: string | undefined): string | null {
  if (cursor === undefined || cursor === '') return null;
  const raw = /^[A-Za-z0-9_-]{1,64}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^i:(\d+)$/.exec(raw);
  if (!m || !isId(m[1]))
    throw appError('VALIDATION_FAILED', 'querystring.cursor is not a cursor this API returned');
  return m[1];
}

/** Given limit+1 rows fetched, the page and the cursor for the next one (absent on the last page). */
export function pageOf<T extends { id: string }>(
  rows: T[],
  limit: number,
): { items: T[]; nextCursor?: string } {
  if (rows.length <= limit) return { items: rows };
  const items = rows.slice(0, limit);
  return { items, nextCursor: encodeCursor(items[items.length - 1].id) };
}

/** The answer schema of a list endpoint: one page of `item`, and the cursor of the next page. */
export function pageSchema<T extends TSchema>(
  item: T,
  order: 'in id order' | 'newest first' | 'oldest first',
) {
  return Type.Object(
    {
      items: Type.Array(item),
      nextCursor: Type.Optional(Type.String({ description: 'absent on the last page' })),
    },
    { description: `One page, ${order}` },
  );
}
