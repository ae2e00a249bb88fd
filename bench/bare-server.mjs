/**
 * The baseline of the benchmarks: a bare Fastify server that does nothing but answer (no auth, no
 * gate, no database). Whatever a real route costs above its bare twin here is ours.
 *   POST /api/v1/coupons/:couponId/issue  201 with a JSON body of the same shape and size as the real
 *                                         issue answer (bench:coupons)
 *   POST /bare                            parses a JSON body, answers {ok, n: items.length} (bench:orders)
 *   POST /api/v1/waiting-rooms/:roomId/entries        201 with a waiting-room entry of the real
 *   GET  /api/v1/waiting-rooms/:roomId/entries/me     shape and size (bench:waiting-room)
 *   GET  /api/v1/waiting-rooms/:roomId/entries/me/events  an event stream held open: the headers and
 *                                         `retry` line of the real one, a first `position` event,
 *                                         then a comment line every 15 s from one timer
 *   POST /api/v1/reservations            parses the hold's JSON body, answers 201 with a hold of the
 *                                         real shape and size (bench:concerts)
 *   POST /api/v1/reservations/:reservationId/pay  200 with a paid reservation of the real shape
 *                                         and size (bench:concerts)
 *   GET /readyz                           200, so the benchmarks wait for it as for a real server
 *
 *   PORT=3999 node bench/bare-server.mjs     → prints "listening http://127.0.0.1:3999"
 *
 * Listens on 127.0.0.1 only; SIGTERM/SIGINT close it.
 */
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 3999);
const app = Fastify({ logger: false });

// Same response schema as the real route, so serialisation costs the same (fast-json-stringify).
const IssueAnswer = {
  type: 'object',
  properties: {
    userCouponId: { type: 'string' },
    couponId: { type: 'string' },
    status: { type: 'string' },
  },
};

// userCouponId counts up from 1,000,000 so the body has the length of a real answer with a 7-digit id.
let next = 1_000_000;
app.post(
  '/api/v1/coupons/:couponId/issue',
  { schema: { response: { 201: IssueAnswer } } },
  (request, reply) => {
    next += 1;
    reply.code(201).send({ userCouponId: String(next), couponId: request.params.couponId, status: 'ISSUED' });
  },
);

// A waiting-room entry, with the real route's response schema and a body of its size.
const Entry = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    position: { type: 'integer' },
    ahead: { type: 'integer' },
    estimatedWaitSeconds: { type: 'integer' },
    joinedAt: { type: 'string' },
  },
};
let place = 0;
const entry = () => {
  place += 1;
  return {
    status: 'WAITING',
    position: 1_000 + (place % 9_000),
    ahead: 999 + (place % 9_000),
    estimatedWaitSeconds: 120,
    joinedAt: new Date().toISOString(),
  };
};
app.post('/api/v1/waiting-rooms/:roomId/entries', { schema: { response: { 201: Entry } } }, (_req, reply) => {
  reply.code(201).send(entry());
});
app.get(
  '/api/v1/waiting-rooms/:roomId/entries/me',
  { schema: { response: { 200: Entry } } },
  (_req, reply) => {
    reply.send(entry());
  },
);
const streams = new Set();
let keepAlive = null;
app.get('/api/v1/waiting-rooms/:roomId/entries/me/events', (request, reply) => {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write('retry: 2000\n\n');
  raw.write(`id: 1\nevent: position\ndata: ${JSON.stringify(entry())}\n\n`);
  request.raw.socket.setKeepAlive(true);
  streams.add(raw);
  raw.on('close', () => streams.delete(raw));
  keepAlive ??= setInterval(() => {
    for (const s of streams) s.write(': keep-alive\n\n');
  }, 15_000).unref();
});

// A seat hold and its payment, with the real routes' response schemas and bodies of their size.
const Hold = {
  type: 'object',
  properties: {
    reservationId: { type: 'string' },
    scheduleId: { type: 'string' },
    seats: { type: 'array', items: { type: 'integer' } },
    status: { type: 'string' },
    total: { type: 'integer' },
    expiresAt: { type: 'string' },
  },
};
const Paid = {
  type: 'object',
  properties: {
    reservationId: { type: 'string' },
    status: { type: 'string' },
    seats: { type: 'array', items: { type: 'integer' } },
    total: { type: 'integer' },
    balanceAfter: { type: 'integer' },
    paidAt: { type: 'string' },
  },
};
// Reservation ids count up from 1,000,000, like userCouponId above.
let reservation = 1_000_000;
app.post('/api/v1/reservations', { schema: { response: { 201: Hold } } }, (request, reply) => {
  reservation += 1;
  const seats = request.body?.seats ?? [1];
  reply.code(201).send({
    reservationId: String(reservation),
    scheduleId: String(request.body?.scheduleId ?? '1'),
    seats,
    status: 'HELD',
    total: 100 * seats.length,
    expiresAt: new Date(Date.now() + 300_000).toISOString(),
  });
});
app.post(
  '/api/v1/reservations/:reservationId/pay',
  { schema: { response: { 200: Paid } } },
  (request, reply) => {
    reply.send({
      reservationId: request.params.reservationId,
      status: 'PAID',
      seats: [1, 2],
      total: 200,
      balanceAfter: 99_800,
      paidAt: new Date().toISOString(),
    });
  },
);

app.post('/bare', async (request) => ({ ok: true, n: request.body?.items?.length ?? 0 }));
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`listening http://127.0.0.1:${app.server.address().port}\n`);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    clearInterval(keepAlive);
    for (const s of streams) s.end();
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
