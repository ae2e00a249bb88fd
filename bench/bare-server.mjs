/**
 * The baseline of the benchmarks: a bare Fastify server that does nothing but answer (no auth, no
 * gate, no database). Whatever a real route costs above its bare twin here is ours.
 *   POST /api/v1/coupons/:couponId/issue  201 with a JSON body of the same shape and size as the real
 *                                         issue answer (bench:coupons)
 *   POST /bare                            parses a JSON body, answers {ok, n: items.length} (bench:orders)
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

app.post('/bare', async (request) => ({ ok: true, n: request.body?.items?.length ?? 0 }));
app.get('/readyz', async () => ({ status: 'ready' }));

await app.listen({ port, host: '127.0.0.1' });
process.stdout.write(`listening http://127.0.0.1:${app.server.address().port}\n`);

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    app.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
