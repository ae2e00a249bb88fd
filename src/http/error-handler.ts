/**
 * Every refusal a client can see is RFC 9457 problem+json with a code of ERRORS (docs/errors.md),
 * whoever makes it:
 *   - our handlers and hooks (AppError) and Fastify's own errors (validation, body parsing, limits),
 *     through the error handler;
 *   - Fastify's router, before any route is chosen (a malformed percent-encoding, a path parameter
 *     over the router's limit), through `frameworkErrors`;
 *   - Node's HTTP parser and server (an unknown method, a bad request target, broken framing,
 *     oversized headers, a timeout), through `clientErrorHandler`, written raw on the socket;
 *   - Node's server answers of its own: a missing or repeated Host (checked here instead), an unsupported
 *     `Expect`, CONNECT, a bad WebSocket handshake, a request arriving while the app drains.
 * A detail never repeats malformed input: paths and property names are quoted only when they are
 * short and plain printable ASCII, and the parser's refusals name the rule, not the bytes.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DependencyUnavailable } from '../infra/breaker.js';
import { isPostgresUnavailable } from '../infra/postgres/pool.js';
import { AppError, appError, problemOf } from './errors.js';
import { textPatternMessage } from './schemas.js';

/** Fastify's router limit on one path parameter (its default), in characters. */
export const MAX_PARAM_LENGTH = 100;

function send(reply: FastifyReply, err: AppError) {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  if (err.code === 'PAYLOAD_TOO_LARGE') lingerBeforeClosing(reply.raw.socket);
  return reply.code(err.status).type('application/problem+json').send(problemOf(err));
}

/** How long a refused body may keep arriving after the answer, before the connection is closed. */
const LINGER_MS = 2_000;

/**
 * A body refused unread (413 on its Content-Length) is still on its way when the answer is sent,
 * and Fastify closes the connection after it: closing with unread data resets the connection, and
 * the client, still writing, may never read the answer. So the close lingers (RFC 9112 §9.6): our
 * side ends, what the client still sends is read and dropped, and the socket is destroyed once the
 * client closes or after LINGER_MS.
 */
function lingerBeforeClosing(socket: (Duplex & { destroySoon?: () => void }) | null): void {
  if (!socket || socket.destroyed || typeof socket.destroySoon !== 'function') return;
  socket.destroySoon = function lingering(this: Duplex) {
    if (this.writable) this.end();
    const close = () => {
      clearTimeout(timer);
      this.destroy();
    };
    const timer = setTimeout(close, LINGER_MS);
    timer.unref?.();
    this.once('end', close);
    this.once('close', () => clearTimeout(timer));
    this.resume();
  };
}

/** `s` when it is short, plain printable ASCII; undefined otherwise (never quote odd input). */
function quotable(s: unknown, max = 200): string | undefined {
  return typeof s === 'string' && s.length > 0 && s.length <= max && /^[\x21-\x7e]+$/.test(s) ? s : undefined;
}

/** Maps Fastify's own errors (validation, parsing, limits) onto our codes. */
function translate(err: FastifyError): AppError | null {
  if (err.validation) {
    const first = err.validation[0];
    const where = err.validationContext ?? 'body';
    const path = first?.instancePath ? `${where}${first.instancePath.replaceAll('/', '.')}` : where;
    const field = quotable(path) ?? where;
    let extra = '';
    if (first?.keyword === 'additionalProperties') {
      const name = quotable(first.params?.additionalProperty, 64);
      extra = name ? ` (${name})` : '';
    }
    const message =
      (first?.keyword === 'pattern' ? textPatternMessage(first.params?.pattern) : undefined) ??
      first?.message ??
      'is invalid';
    return appError('VALIDATION_FAILED', `${field} ${message}${extra}`);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return appError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return appError('PAYLOAD_TOO_LARGE', 'the request body exceeds the size limit');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return appError('VALIDATION_FAILED', 'body must not be empty when Content-Type is application/json');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return appError('VALIDATION_FAILED', 'body is not valid JSON');
  }
  if (err instanceof SyntaxError || err.statusCode === 400) {
    return appError('VALIDATION_FAILED', 'body is not valid JSON');
  }
  if (err.statusCode === 413) return appError('PAYLOAD_TOO_LARGE', 'the request body exceeds the size limit');
  if (err.statusCode === 415) return appError('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
  if (err.statusCode === 429) return appError('RATE_LIMITED', 'slow down', { 'retry-after': '1' });
  if (err.statusCode === 503)
    return appError('OVERLOADED', 'the server is overloaded', { 'retry-after': '1' });
  return null;
}

/**
 * A dependency that is down (an open circuit, PostgreSQL refusing or dropping connections) is a
 * 503 the client may retry, not our bug. The request may have been cut anywhere: a write without
 * an Idempotency-Key cannot be known to have had no effect, so the detail does not promise it.
 */
function unavailable(err: unknown): AppError | null {
  if (err instanceof DependencyUnavailable)
    return appError('UNAVAILABLE', `${err.dependency} is unavailable; retry later`, {
      'retry-after': String(err.retryAfterSeconds),
    });
  if (isPostgresUnavailable(err))
    return appError('UNAVAILABLE', 'postgres is unavailable; retry later', { 'retry-after': '2' });
  return null;
}

/**
 * Fastify's `frameworkErrors` option: the router's refusals, made before a route is chosen. The
 * path is not quoted back (it is what was malformed).
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return send(reply, appError('MALFORMED_REQUEST', 'the path is not valid percent-encoded UTF-8'));
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return send(
        reply,
        appError('URI_TOO_LONG', `a path segment is longer than ${MAX_PARAM_LENGTH} characters`),
      );
  }
  request.log.error({ err: error }, 'unhandled router error');
  return send(reply, appError('INTERNAL', 'an internal error occurred; it has been logged'));
}

/** How many Host headers the request carried (rawHeaders alternates names and values). */
function hostHeaders(rawHeaders: string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === 4 && name.toLowerCase() === 'host') n += 1;
  }
  return n;
}

const CLOSE = { connection: 'close' };

/** A complete HTTP/1.1 problem+json response that closes the connection, for raw sockets. */
export function rawProblemResponse(err: AppError, headers: Record<string, string> = {}): string {
  const body = JSON.stringify(problemOf(err));
  const lines = [
    `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? 'Error'}`,
    'Content-Type: application/problem+json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries({ ...err.headers, ...headers }).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** Writes `response` if nothing of another response was written on the socket yet, then closes it. */
function answerOnSocket(socket: Duplex, response: string): void {
  // The request being read may already have a response under way (its headers sent): writing
  // now would corrupt it, so only close the connection then.
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (!socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => socket.destroy(), 2_000);
  timer.unref?.();
  socket.end(response, () => {
    clearTimeout(timer);
    socket.destroy();
  });
}

/** What the parser refused, by llhttp's error code; the sentence names the rule, not the bytes. */
function parserRefusal(code: string | undefined): AppError {
  switch (code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return appError('REQUEST_TIMEOUT', 'the request was not received in time');
    case 'HPE_HEADER_OVERFLOW':
      return appError(
        'HEADERS_TOO_LARGE',
        `the request line and headers exceed ${Math.floor(http.maxHeaderSize / 1024)} KB`,
      );
    case 'HPE_INVALID_METHOD':
      return appError('MALFORMED_REQUEST', 'the request method is not one HTTP/1.1 defines');
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_URL':
      return appError(
        'MALFORMED_REQUEST',
        'the request line must be "METHOD /path HTTP/1.1", with spaces, control and non-ASCII characters of the path percent-encoded',
      );
    case 'HPE_INVALID_VERSION':
    case 'HPE_STRICT':
    case 'HPE_CR_EXPECTED':
    case 'HPE_LF_EXPECTED':
    case 'HPE_UNEXPECTED_SPACE':
      return appError(
        'MALFORMED_REQUEST',
        'lines must end with CRLF, and the version be HTTP/1.1 or HTTP/1.0',
      );
    case 'HPE_PAUSED_H2_UPGRADE':
      return appError('MALFORMED_REQUEST', 'this server speaks HTTP/1.1 and HTTP/1.0 only');
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return appError('MALFORMED_REQUEST', 'Content-Length must be one decimal number');
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return appError(
        'MALFORMED_REQUEST',
        'Transfer-Encoding must end with chunked and never come with Content-Length',
      );
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return appError('MALFORMED_REQUEST', 'the chunked body is malformed');
    case 'HPE_INVALID_EOF_STATE':
      return appError('MALFORMED_REQUEST', 'the connection ended in the middle of the request');
    case 'HPE_INVALID_HEADER_TOKEN':
      return appError('MALFORMED_REQUEST', 'a header name or value holds characters HTTP does not allow');
  }
  return appError('MALFORMED_REQUEST', 'the request is not valid HTTP/1.1');
}

/**
 * Fastify's `clientErrorHandler` option: a request Node's HTTP parser refused (or one not received
 * in time) gets its problem+json written raw on the socket, which is then closed.
 */
export function clientErrorHandler(err: Error & { code?: string }, socket: Duplex): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || socket.destroyed) return;
  answerOnSocket(socket, rawProblemResponse(parserRefusal(err.code)));
}

/**
 * The error handler, the not-found handler, and the refusals Node's server would otherwise make
 * itself (in its own format): missing Host, unsupported `Expect`, CONNECT, requests during a drain.
 * Needs the app built with `http: { requireHostHeader: false }` and `return503OnClosing: false`
 * (src/app.ts), so that those requests reach the hook below.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) return send(reply, error);
    const known = translate(error);
    if (known) return send(reply, known);
    const down = unavailable(error);
    if (down) {
      request.log.warn({ err: error }, 'a dependency is unavailable');
      return send(reply, down);
    }
    // Anything else is our bug or a dependency failure: log it whole, tell the client nothing internal.
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, appError('INTERNAL', 'an internal error occurred; it has been logged'));
  });
  app.setNotFoundHandler((request, reply) => {
    const path = quotable(request.url.split('?')[0]);
    return send(
      reply,
      appError(
        'NOT_FOUND',
        path ? `no route ${request.method} ${path}` : `no route ${request.method} for this path`,
      ),
    );
  });

  // Set when the app starts closing; requests still arriving on open connections are refused.
  let draining = false;
  app.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  // First of the onRequest hooks: runs before access control and before any body is read.
  app.addHook('onRequest', (request, _reply, done) => {
    if (draining) {
      done(
        appError('OVERLOADED', 'the server is shutting down; retry on another instance', {
          'retry-after': '1',
          connection: 'close',
        }),
      );
      return;
    }
    const raw = request.raw;
    if (raw.headers.host === undefined) {
      if (raw.httpVersionMajor === 1 && raw.httpVersionMinor === 1) {
        done(appError('MALFORMED_REQUEST', 'an HTTP/1.1 request must carry a Host header', CLOSE));
        return;
      }
    } else if (hostHeaders(raw.rawHeaders) > 1) {
      // Node keeps the first of several; a proxy in front may have used another (RFC 9112 §3.2).
      done(appError('MALFORMED_REQUEST', 'a request must carry one Host header', CLOSE));
      return;
    }
    done();
  });

  const server = app.server;
  server.on('checkExpectation', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const err = appError('EXPECTATION_FAILED', 'the only expectation this server meets is 100-continue');
    const body = JSON.stringify(problemOf(err));
    res.writeHead(err.status, {
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    answerOnSocket(
      socket,
      rawProblemResponse(appError('NOT_FOUND', 'this server is not a proxy: no CONNECT')),
    );
  });
}

/**
 * WebSocket handshakes the `ws` server refuses (an Upgrade that is not a valid WebSocket
 * handshake) are answered as problem+json instead of its text/html. Call once
 * @fastify/websocket is registered.
 */
export function installUpgradeRefusals(app: FastifyInstance): void {
  app.websocketServer.on('wsClientError', (err: Error, socket: Duplex) => {
    const version: Record<string, string> = /Sec-WebSocket-Version/i.test(err.message)
      ? { 'Sec-WebSocket-Version': '13, 8' }
      : {};
    socket.on('error', () => socket.destroy());
    answerOnSocket(
      socket,
      rawProblemResponse(appError('MALFORMED_REQUEST', 'this is not a valid WebSocket handshake'), version),
    );
  });
}
