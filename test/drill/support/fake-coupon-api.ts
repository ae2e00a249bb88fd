/**
 * A small stand-in for stampede's coupon API on 127.0.0.1 (node:http), implementing just what
 * the coupon-drop drill touches: /readyz, admin users/bulk and coupons, issue, coupon and
 * me/coupons. Correct by default; `bug` makes it wrong in one realistic way, so tests can show the
 * drill's audit catches it:
 *   oversell      off-by-one stock check: grants quantity + 1
 *   double-issue  forgets to check whether the user already holds the coupon
 *   lost-write    answers 201 for every 5th grant without storing it
 * `delayMs(elapsedMs)` slows the issue endpoint (a target whose latency grows over time).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Bug = 'oversell' | 'double-issue' | 'lost-write';

export interface FakeOptions {
  bug?: Bug;
  delayMs?: (elapsedMs: number) => number;
}

interface Coupon {
  id: string;
  name: string;
  discount: { type: string; value: number };
  quantity: number;
  /** userCouponIds per user id (an array so a buggy server can hold two). */
  holders: Map<string, string[]>;
  granted: number;
}

export interface FakeApi {
  url: string;
  adminToken: string;
  coupons: Map<string, Coupon>;
  /** 201 answers sent by the issue endpoint. */
  answered201: number;
  close(): Promise<void>;
}

export const FAKE_ADMIN_TOKEN = 'fake-admin-token-0123456789';

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function problem(res: http.ServerResponse, status: number, code: string): void {
  send(res, status, { type: 'about:blank', title: code, status, detail: code, code });
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

export async function startFakeCouponApi(opts: FakeOptions = {}): Promise<FakeApi> {
  const started = Date.now();
  let nextUser = 1;
  let nextCoupon = 1;
  let nextUserCoupon = 1;
  let grants = 0;
  const coupons = new Map<string, Coupon>();
  const state: Omit<FakeApi, 'url' | 'close'> = { adminToken: FAKE_ADMIN_TOKEN, coupons, answered201: 0 };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => problem(res, 500, `INTERNAL ${String(err)}`));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    const userId = token?.startsWith('tok-') ? token.slice(4) : undefined;
    const admin = token === FAKE_ADMIN_TOKEN;
    const p = url.pathname;

    if (req.method === 'GET' && p === '/readyz') return send(res, 200, { status: 'ready' });
    if (req.method === 'POST' && p === '/api/v1/admin/users/bulk') {
      if (!admin) return problem(res, 401, 'UNAUTHENTICATED');
      const body = await readJson(req);
      const count = Number(body.count);
      const users = Array.from({ length: count }, () => {
        const id = String(nextUser++);
        return { id, name: `${String(body.namePrefix ?? 'user')}-${id}`, token: `tok-${id}` };
      });
      return send(res, 201, { users });
    }
    if (req.method === 'POST' && p === '/api/v1/admin/coupons') {
      if (!admin) return problem(res, 401, 'UNAUTHENTICATED');
      const body = await readJson(req);
      const c: Coupon = {
        id: String(nextCoupon++),
        name: String(body.name),
        discount: body.discount as Coupon['discount'],
        quantity: Number(body.quantity),
        holders: new Map(),
        granted: 0,
      };
      coupons.set(c.id, c);
      const { holders: _h, granted: _g, ...view } = c;
      return send(res, 201, { ...view, startsAt: new Date().toISOString(), endsAt: null });
    }
    const issue = /^\/api\/v1\/coupons\/([^/]+)\/issue$/.exec(p);
    if (req.method === 'POST' && issue) {
      if (!userId) return problem(res, 401, 'UNAUTHENTICATED');
      const c = coupons.get(issue[1]);
      if (!c) return problem(res, 404, 'NOT_FOUND');
      const delay = opts.delayMs?.(Date.now() - started) ?? 0;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      const held = c.holders.get(userId) ?? [];
      if (opts.bug !== 'double-issue' && held.length > 0) return problem(res, 409, 'ALREADY_ISSUED');
      const soldOut = opts.bug === 'oversell' ? c.granted > c.quantity : c.granted >= c.quantity;
      if (soldOut) return problem(res, 410, 'SOLD_OUT');
      const userCouponId = String(nextUserCoupon++);
      grants++;
      if (!(opts.bug === 'lost-write' && grants % 5 === 0)) {
        held.push(userCouponId);
        c.holders.set(userId, held);
        c.granted++;
      }
      state.answered201++;
      return send(res, 201, { userCouponId, couponId: c.id, status: 'ISSUED' });
    }
    const one = /^\/api\/v1\/coupons\/([^/]+)$/.exec(p);
    if (req.method === 'GET' && one) {
      const c = coupons.get(one[1]);
      if (!c) return problem(res, 404, 'NOT_FOUND');
      const { holders: _h, granted, ...view } = c;
      return send(res, 200, {
        ...view,
        remaining: Math.max(0, c.quantity - granted),
        startsAt: new Date(started).toISOString(),
        endsAt: null,
      });
    }
    if (req.method === 'GET' && p === '/api/v1/me/coupons') {
      if (!userId) return problem(res, 401, 'UNAUTHENTICATED');
      const items = [];
      for (const c of coupons.values()) {
        for (const userCouponId of c.holders.get(userId) ?? []) {
          items.push({
            userCouponId,
            couponId: c.id,
            name: c.name,
            discount: c.discount,
            status: 'AVAILABLE',
            issuedAt: new Date().toISOString(),
          });
        }
      }
      return send(res, 200, { items });
    }
    return problem(res, 404, 'NOT_FOUND');
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
