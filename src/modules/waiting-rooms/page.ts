/**
 * The waiting-room page, `GET /wait/:roomId` (public): one static HTML file, web/wait.html, with its
 * script and styles inline and no build step. It talks to the room's API from the browser (join,
 * live place over SSE, polling when the stream fails, the pass once admitted).
 *
 * Where the file is read from, once at start: `dist/web/` (the build copies web/ there, see
 * scripts/copy-assets.mjs), else the repository's `web/` (running from src/, as the tests do). A
 * build without it still starts; the route then answers 500 and says which file is missing.
 *
 * The answer carries a Content-Security-Policy that allows exactly the inline script and styles of
 * the file (by hash), API calls to this origin, and nothing else; and `Referrer-Policy: no-referrer`,
 * since the address may hold a token (`?token=`, which the page then takes out of the address).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { appError } from '../../http/errors.js';
import { responses } from '../../http/responses.js';
import { IdParam, isId } from '../../http/schemas.js';

export interface StaticPage {
  html: string;
  etag: string;
  csp: string;
}

const FILE = 'wait.html';
/** dist/modules/waiting-rooms → dist/web (the build's copy); src/modules/waiting-rooms → web/. */
const CANDIDATES = ['../../web/', '../../../web/'];

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page with its CSP: the inline <script> and <style> blocks are allowed by their hashes. */
export function pageOf(html: string): StaticPage {
  const blocks = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => hash(m[1]));
  const scripts = blocks('script');
  const styles = blocks('style');
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.join(' ') || "'none'"}`,
    `style-src ${styles.join(' ') || "'none'"}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const etag = `"${createHash('sha256').update(html).digest('base64url').slice(0, 27)}"`;
  return { html, etag, csp };
}

/** Reads web/wait.html from the build's copy or the repository; null when neither has it. */
export function loadWaitingRoomPage(): StaticPage | null {
  for (const dir of CANDIDATES) {
    const file = fileURLToPath(new URL(dir + FILE, import.meta.url));
    if (existsSync(file)) return pageOf(readFileSync(file, 'utf8'));
  }
  return null;
}

/** Mounted at `/wait/:roomId`: the page for a room id, 404 problem+json for anything else. */
export const waitingRoomPageRoutes =
  (page: StaticPage | null): FastifyPluginAsyncTypebox =>
  async (app) => {
    if (!page) app.log.warn(`web/${FILE} is missing from this build: /wait/:roomId answers 500`);
    app.get(
      '/',
      {
        config: { access: 'public' },
        schema: {
          // An HTML page, not an API operation: described in docs/api.md, left out of /docs.
          hide: true,
          params: Type.Object({ roomId: IdParam }),
          response: responses(
            {
              200: Type.Unsafe<string>({
                description: 'The page (HTML)',
                content: { 'text/html': { schema: Type.String() } },
              }),
              // No body at all (not JSON null): the reply is sent empty.
              304: Type.Unsafe<undefined>({
                type: 'null',
                description: 'Not modified (If-None-Match matched the ETag)',
              }),
            },
            {
              NOT_FOUND: 'the room id is not an id',
              INTERNAL: `the page (web/${FILE}) is missing from this build`,
            },
          ),
        },
      },
      async (request, reply) => {
        const { roomId } = request.params;
        if (!isId(roomId)) throw appError('NOT_FOUND', `no waiting room ${roomId.slice(0, 40)}`);
        if (!page)
          throw appError('INTERNAL', `the waiting-room page (web/${FILE}) is missing from this build`);
        reply
          .header('cache-control', 'no-cache')
          .header('etag', page.etag)
          .header('content-security-policy', page.csp)
          .header('referrer-policy', 'no-referrer')
          .header('x-content-type-options', 'nosniff');
        if (request.headers['if-none-match'] === page.etag) return reply.code(304).send();
        return reply.type('text/html; charset=utf-8').send(page.html);
      },
    );
  };
