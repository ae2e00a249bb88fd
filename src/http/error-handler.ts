import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { AppError, appError, problemOf } from './errors.js';

function send(reply: FastifyReply, err: AppError) {
  for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  return reply.code(err.status).type('application/problem+json').send(problemOf(err));
}

/** Maps Fastify's own errors (validation, parsing, limits) onto our codes. */
function translate(err: FastifyError): AppError | null {
  if (err.validation) {
    const first = err.validation[0];
    const where = err.validationContext ?? 'body';
    const field = first?.instancePath ? `${where}${first.instancePath.replaceAll('/', '.')}` : where;
    const extra =
      first?.keyword === 'additionalProperties' ? ` (${String(first.params?.additionalProperty)})` : '';
    return appError('VALIDATION_FAILED', `${field} ${first?.message ?? 'is invalid'}${extra}`);
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

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) return send(reply, error);
    const known = translate(error);
    if (known) return send(reply, known);
    // Anything else is our bug or a dependency failure: log it whole, tell the client nothing internal.
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, appError('INTERNAL', 'an internal error occurred; it has been logged'));
  });
  app.setNotFoundHandler((request, reply) =>
    send(reply, appError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );
}
