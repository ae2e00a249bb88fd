/**
 * `stampede demo [--target URL] [--admin-token TOKEN]` (also `npm run demo`): loads a small,
 * realistic data set into a RUNNING server through its HTTP API — four products with descriptions,
 * a coupon drop open from now on, three users with points, one paid order that used the coupon —
 * then prints what was made and copy-pasteable commands to try next, with the ids it created.
 *
 * Every run creates new rows (nothing is looked up or reused), so it can run any number of times
 * on the same data. Everything it creates is named "demo: ...".
 *
 * The admin token: --admin-token, else ADMIN_TOKEN, else DATA_DIR/admin-token (DATA_DIR defaulting
 * to ./.data, where `npm start` keeps it). Exit codes: 0 loaded, 1 could not load, 2 usage.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';

export const DEMO_USAGE = `usage: stampede demo [--target URL] [--admin-token TOKEN]

Loads sample data (products, a coupon drop, users with points, a paid order; all named "demo: ...")
into a running stampede server and prints commands to try next. Safe to run again: each run adds
new data.

  --target URL          the server (default http://127.0.0.1:3000)
  --admin-token TOKEN   its admin token (default: $ADMIN_TOKEN, else ./.data/admin-token,
                        or $DATA_DIR/admin-token when DATA_DIR is set)
  -h, --help            this text
`;

export interface DemoIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** The demo could not load its data; the message says why and what to do. */
class DemoError extends Error {}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the server, read field by field
  body: any;
}

interface Client {
  call(
    method: 'GET' | 'POST',
    route: string,
    opts?: { token?: string; body?: unknown; key?: string },
  ): Promise<Answer>;
}

function client(target: string, adminToken: string): Client {
  return {
    async call(method, route, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.key) headers['idempotency-key'] = opts.key;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(`${target}${route}`, {
          method,
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).message;
        throw new DemoError(
          `no stampede server answers at ${target} (${code}); start one with npm start, or pass --target URL.`,
        );
      }
      const text = await res.body.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: reported as text below
      }
      if (res.statusCode >= 400) {
        const problem = body as { code?: string; detail?: string };
        if ((res.statusCode === 401 || res.statusCode === 403) && opts.token === adminToken)
          throw new DemoError(
            `the server at ${target} refused the admin token (${res.statusCode} ${problem.code ?? ''}); pass the one its start banner printed: --admin-token TOKEN.`,
          );
        throw new DemoError(
          `${method} ${route} answered ${res.statusCode} ${problem.code ?? ''}: ${problem.detail ?? String(text).slice(0, 200)}`,
        );
      }
      return { status: res.statusCode, body };
    },
  };
}

/** The admin token, and how a printed command should name it (not the secret when it came from a file or the environment). */
function resolveAdminToken(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  cwd: string,
): { token: string; shown: string } {
  if (flag) return { token: flag, shown: flag };
  if (env.ADMIN_TOKEN) return { token: env.ADMIN_TOKEN, shown: '"$ADMIN_TOKEN"' };
  const file = path.resolve(cwd, env.DATA_DIR || '.data', 'admin-token');
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return { token, shown: `"$(cat ${env.DATA_DIR ? file : '.data/admin-token'})"` };
  } catch {
    // reported below
  }
  throw new DemoError(
    `no admin token: ${path.relative(cwd, file) || file} is not there; pass --admin-token TOKEN (the start banner prints it) or run this where npm start runs.`,
  );
}

const PRODUCTS = [
  {
    name: 'demo: Trail running shoe',
    price: 12_000,
    stock: 25,
    description: 'Lightweight trail shoe with a rock plate, sizes 38 to 46.',
  },
  {
    name: 'demo: Merino beanie',
    price: 2_500,
    stock: 100,
    description: 'Fine merino wool, one size, five colours.',
  },
  {
    name: 'demo: Limited-edition sneaker',
    price: 18_000,
    stock: 3,
    description: 'Numbered pairs, only three made: first come, first served.',
  },
  {
    name: 'demo: Insulated bottle',
    price: 3_200,
    stock: 60,
    description: 'Steel, 750 ml, keeps drinks cold for 24 hours.',
  },
];

const USERS = [
  { name: 'demo: ann', points: 30_000 },
  { name: 'demo: ben', points: 15_000 },
  { name: 'demo: chloe', points: 5_000 },
];

export interface DemoData {
  products: { id: string; name: string; price: number; stock: number }[];
  coupon: { id: string; name: string; quantity: number; endsAt: string };
  users: { id: string; name: string; token: string; balance: number }[];
  order: { orderId: string; subtotal: number; discount: number; total: number; userCouponId: string };
}

/** Creates the data set through the API. */
export async function loadDemo(api: Client, adminToken: string, now = new Date()): Promise<DemoData> {
  const admin = { token: adminToken };
  const products: DemoData['products'] = [];
  for (const p of PRODUCTS) {
    const { body } = await api.call('POST', '/api/v1/admin/products', { ...admin, body: p });
    products.push({ id: body.id, name: body.name, price: body.price, stock: body.stock });
  }
  const endsAt = new Date(now.getTime() + 7 * 86_400_000).toISOString();
  const { body: coupon } = await api.call('POST', '/api/v1/admin/coupons', {
    ...admin,
    body: {
      name: 'demo: Launch week 15% off',
      discount: { type: 'PERCENT', value: 15 },
      quantity: 50,
      endsAt,
      validDays: 30,
    },
  });
  const users: DemoData['users'] = [];
  for (const u of USERS) {
    const { body: user } = await api.call('POST', '/api/v1/users', { body: { name: u.name } });
    const { body: wallet } = await api.call('POST', '/api/v1/me/points/charge', {
      token: user.token,
      key: `demo-charge-${randomUUID()}`,
      body: { amount: u.points },
    });
    users.push({ id: user.id, name: user.name, token: user.token, balance: wallet.balance });
  }
  const ann = users[0];
  const { body: issued } = await api.call('POST', `/api/v1/coupons/${coupon.id}/issue`, { token: ann.token });
  const { body: order } = await api.call('POST', '/api/v1/orders', {
    token: ann.token,
    key: `demo-order-${randomUUID()}`,
    body: {
      items: [
        { productId: products[0].id, quantity: 1 },
        { productId: products[1].id, quantity: 1 },
      ],
      userCouponId: issued.userCouponId,
    },
  });
  ann.balance = order.balanceAfter;
  return {
    products,
    coupon: { id: coupon.id, name: coupon.name, quantity: coupon.quantity, endsAt },
    users,
    order: {
      orderId: order.orderId,
      subtotal: order.subtotal,
      discount: order.discount,
      total: order.total,
      userCouponId: issued.userCouponId,
    },
  };
}

/**
 * What was made, then the commands to try next: a block of shell lines (after "Try next", up to the
 * next blank line), each runnable as printed. `adminToken` is how the drill line names the token.
 */
export function describeDemo(target: string, d: DemoData, adminToken: string): string {
  const [shoe, beanie, sneaker, bottle] = d.products;
  const [ann, ben] = d.users;
  const short = (name: string) => name.replace(/^demo: /, '');
  const w = Math.max(...d.products.map((p) => p.name.length), ...d.users.map((u) => u.name.length));
  const row = (label: string, id: string, name: string, rest: string) =>
    `  ${label.padEnd(8)}  ${id.padStart(4)}  ${name.padEnd(w)}  ${rest}`;
  return [
    `Loaded demo data into ${target} (everything it made is named "demo: ..."):`,
    '',
    ...d.products.map((p, i) =>
      row(
        i === 0 ? 'products' : '',
        p.id,
        p.name,
        `${String(p.price).padStart(6)} points, ${p.stock} in stock`,
      ),
    ),
    row(
      'coupon',
      d.coupon.id,
      d.coupon.name,
      `${d.coupon.quantity} units, one per user, open now until ${d.coupon.endsAt.slice(0, 10)}`,
    ),
    ...d.users.map((u, i) =>
      row(i === 0 ? 'users' : '', u.id, u.name, `${String(u.balance).padStart(6)} points`),
    ),
    row(
      'order',
      d.order.orderId,
      `PAID by ${short(ann.name)}`,
      `1 × ${short(shoe.name)} + 1 × ${short(beanie.name)} with the coupon: ${d.order.subtotal} − ${d.order.discount} = ${d.order.total} points`,
    ),
    '',
    'Try next (paste into a shell; needs curl and jq; the user tokens are valid for 30 days):',
    '',
    `  B=${target}`,
    `  ANN=${ann.token}`,
    `  BEN=${ben.token}`,
    `  # the drop: ${d.coupon.quantity - 1} of ${d.coupon.quantity} left (${short(ann.name)} holds one)`,
    `  curl -s -w '\\n' $B/api/v1/coupons/${d.coupon.id}`,
    `  # ${short(ben.name)} claims one and spends it on two bottles`,
    `  UC=$(curl -s -XPOST $B/api/v1/coupons/${d.coupon.id}/issue -H "authorization: Bearer $BEN" | jq -r .userCouponId)`,
    `  curl -s -w '\\n' -XPOST $B/api/v1/orders -H "authorization: Bearer $BEN" -H 'content-type: application/json' -d '{"items":[{"productId":"${bottle.id}","quantity":2}],"userCouponId":"'$UC'"}'`,
    `  # the sneaker costs more than ${short(ben.name)} has left: 402 INSUFFICIENT_POINTS, nothing taken`,
    `  curl -s -w '\\n' -XPOST $B/api/v1/orders -H "authorization: Bearer $BEN" -H 'content-type: application/json' -d '{"items":[{"productId":"${sneaker.id}","quantity":1}]}'`,
    `  # ${short(ann.name)}'s orders, and today's best sellers`,
    `  curl -s -w '\\n' $B/api/v1/me/orders -H "authorization: Bearer $ANN"`,
    `  curl -s -w '\\n' "$B/api/v1/products/popular?days=1"`,
    '',
    `Every endpoint: ${target}/docs. Rehearse a drop against this server:`,
    `  npm run drill -- coupon-drop --profile smoke --target ${target} --admin-token ${adminToken}`,
    '',
  ].join('\n');
}

export async function runDemoCli(
  argv: string[],
  io: DemoIo = { stdout: process.stdout, stderr: process.stderr },
  env: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): Promise<number> {
  let values: { target?: string; 'admin-token'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        target: { type: 'string' },
        'admin-token': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.stderr.write(`stampede demo: ${(err as Error).message}\n\n${DEMO_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(DEMO_USAGE);
    return 0;
  }
  const target = (values.target ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/.test(target)) {
    io.stderr.write(
      `stampede demo: --target must be a server's base URL like http://127.0.0.1:3000; got "${target}"\n`,
    );
    return 2;
  }
  try {
    const admin = resolveAdminToken(values['admin-token'], env, cwd);
    const api = client(target, admin.token);
    await api.call('GET', '/healthz');
    const data = await loadDemo(api, admin.token);
    io.stdout.write(describeDemo(target, data, admin.shown));
    return 0;
  } catch (err) {
    if (err instanceof DemoError) {
      io.stderr.write(`stampede demo: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
