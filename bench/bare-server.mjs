/**
 * The baseline for bench/coupons.mjs: a bare Fastify server with one POST route that answers 201
 * with a JSON body of the same shape and size as POST /api/v1/coupons/:couponId/issue, and does
 * nothing else (no auth, no gate, no database). Whatever the real route costs above this is ours.
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
