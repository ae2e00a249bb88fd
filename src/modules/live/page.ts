/**
 * The live operations page, `GET /dashboard` (public), and the files it loads from this server:
 * `/dashboard/dashboard.js`, `/dashboard/dashboard.css` (from web/, no build step) and
 * `/dashboard/chart.js` (Chart.js's UMD build, from the `chart.js` dependency: no CDN). The page
 * itself holds no data: it asks for the admin token, keeps it in sessionStorage, and reads the
 * admin API (the live stream with `?access_token=`, the history and the alerts with a Bearer token).
 *
 * Where the files are read from, once at start: web/ from `dist/web/` (the build's copy, see
 * scripts/copy-assets.mjs), else the repository's `web/` (running from src/, as the tests do);
 * Chart.js from wherever Node resolves the `chart.js` package (the repository's node_modules, or
 * the image's /app/node_modules, which keeps production dependencies). A build missing one still
 * starts; that file's route then answers 500 and says which file is missing.
 *
 * Every answer carries a Content-Security-Policy that allows scripts and styles of this origin only
 * (no inline code, no eval), API calls to this origin, and nothing else; `Referrer-Policy:
 * no-referrer`, since the stream's address holds the token; and `Cache-Control: no-cache` with an
 * ETag, so a new build is picked up at the next load.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { appError } from '../../http/errors.js';
import { responses } from '../../http/responses.js';

export interface StaticFile {
  /** Where it came from, for messages: `web/dashboard.js`, `chart.js/dist/chart.umd.min.js`. */
  name: string;
  type: string;
  body: string;
  etag: string;
}

export interface DashboardFiles {
  html: StaticFile | null;
  script: StaticFile | null;
  styles: StaticFile | null;
  chart: StaticFile | null;
}

/** dist/modules/live → dist/web (the build's copy); src/modules/live → web/. */
const WEB_DIRS = ['../../web/', '../../../web/'];

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function fileOf(name: string, type: string, body: string): StaticFile {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
  return { name, type, body, etag };
}

function webFile(file: string, type: string): StaticFile | null {
  for (const dir of WEB_DIRS) {
    const at = fileURLToPath(new URL(dir + file, import.meta.url));
    if (existsSync(at)) return fileOf(`web/${file}`, type, readFileSync(at, 'utf8'));
  }
  return null;
}

/**
 * Chart.js's UMD build (defines `window.Chart`). The package exports no path to it, so it is found
 * beside the file its main entry resolves to (`dist/chart.cjs`). Its source-map comment is dropped:
 * the map is not served.
 */
function chartFile(): StaticFile | null {
  try {
    const main = createRequire(import.meta.url).resolve('chart.js');
    const at = path.join(path.dirname(main), 'chart.umd.min.js');
    if (!existsSync(at)) return null;
    const body = readFileSync(at, 'utf8').replace(/\n?\/\/# sourceMappingURL=\S+\s*$/, '\n');
    return fileOf('chart.js/dist/chart.umd.min.js', 'text/javascript; charset=utf-8', body);
  } catch {
    return null;
  }
}

/** Reads the page's files; a file that is missing is null (its route answers 500). */
export function loadDashboardFiles(): DashboardFiles {
  return {
    html: webFile('dashboard.html', 'text/html; charset=utf-8'),
    script: webFile('dashboard.js', 'text/javascript; charset=utf-8'),
    styles: webFile('dashboard.css', 'text/css; charset=utf-8'),
    chart: chartFile(),
  };
}

function send(request: FastifyRequest, reply: FastifyReply, file: StaticFile) {
  reply
    .header('cache-control', 'no-cache')
    .header('etag', file.etag)
    .header('content-security-policy', DASHBOARD_CSP)
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff');
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  return reply.type(file.type).send(file.body);
}

/** Mounted at `/dashboard`: the page at `/`, its script, styles and Chart.js beside it. */
export const dashboardPageRoutes =
  (files: DashboardFiles): FastifyPluginAsyncTypebox =>
  async (app) => {
    const routes: [string, keyof DashboardFiles, string, string][] = [
      ['/', 'html', 'dashboard.html', 'The page (HTML)'],
      ['/dashboard.js', 'script', 'dashboard.js', "The page's script"],
      ['/dashboard.css', 'styles', 'dashboard.css', "The page's styles"],
      ['/chart.js', 'chart', 'chart.umd.min.js of the chart.js package', 'Chart.js (UMD build)'],
    ];
    for (const [url, key, what, description] of routes) {
      if (!files[key]) app.log.warn(`${what} is missing from this build: /dashboard${url} answers 500`);
      app.get(
        url,
        {
          config: { access: 'public' },
          schema: {
            // A page and its files, not API operations: described in docs/api.md, left out of /docs.
            hide: true,
            response: responses(
              {
                200: Type.Unsafe<string>({ description, content: { '*/*': { schema: Type.String() } } }),
                // No body at all (not JSON null): the reply is sent empty.
                304: Type.Unsafe<undefined>({
                  type: 'null',
                  description: 'Not modified (If-None-Match matched the ETag)',
                }),
              },
              { INTERNAL: `${what} is missing from this build` },
            ),
          },
        },
        async (request, reply) => {
          const file = files[key];
          if (!file) throw appError('INTERNAL', `the dashboard's ${what} is missing from this build`);
          return send(request, reply, file);
        },
      );
    }
  };
