/**
 * Helpers for the commerce suites: a server (harness) plus an HTTP client, admin shortcuts, and
 * direct PostgreSQL reads for audits (the truth the API must agree with).
 */
import pg from 'pg';
import { Agent, request } from 'undici';
import type { Config } from '../../src/config.js';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  httpClient,
  type Mode,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';

export type Client = ReturnType<typeof httpClient>;
export type Res = Awaited<ReturnType<Client['call']>>;

export interface Env {
  mode: Mode;
  db: TestDatabase;
  server: TestServer;
  http: Client;
  sql: pg.Pool;
  agent: Agent;
  url: (path: string) => string;
  close(): Promise<void>;
}

export async function startEnv(mode: Mode, overrides: Partial<Config> = {}, connections = 256): Promise<Env> {
  const db = await createDatabaseFor(mode);
  const server = await startTestServer(db, overrides);
  const http = httpClient(connections);
  const sql = new pg.Pool({ connectionString: db.url, max: 3 });
  const agent = new Agent({ connections, keepAliveTimeout: 10_000 });
  return {
    mode,
    db,
    server,
    http,
    sql,
    agent,
    url: (path) => `${server.url}${path}`,
    async close() {
      await http.close();
      await agent.close();
      await sql.end();
      await server.close();
      await db.drop();
    },
  };
}

/**
 * One HTTP call. A 503 (OVERLOADED: the in-test server sheds load when the shared 2-core machine
 * saturates; UNAVAILABLE: nothing was committed) promises nothing was done, so — like a real
 * client honouring Retry-After — the call is retried; every other answer is returned as is.
 */
export async function call(
  env: Env,
  method: 'GET' | 'POST',
  path: string,
  opts: { token?: string; body?: unknown; idemKey?: string; base?: string; retry503?: boolean } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.idemKey !== undefined) headers['idempotency-key'] = opts.idemKey;
  for (let attempt = 1; ; attempt++) {
    const res = await request(`${opts.base ?? env.server.url}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      dispatcher: env.agent,
    });
    const text = await res.body.text();
    const body = text ? JSON.parse(text) : null;
    if (res.statusCode === 503 && opts.retry503 !== false && attempt < 20) {
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
      continue;
    }
    return { status: res.statusCode, headers: res.headers, body };
  }
}

export function post(env: Env, path: string, token: string, body: unknown, idemKey?: string): Promise<Res> {
  return call(env, 'POST', path, { token, body, idemKey });
}

export function get(env: Env, path: string, token?: string): Promise<Res> {
  return call(env, 'GET', path, { token });
}

/** Users through the admin bulk endpoint. */
export async function users(env: Env, n: number): Promise<TestUser[]> {
  const out: TestUser[] = [];
  for (let left = n; left > 0; left -= 10_000) {
    const res = await post(env, '/api/v1/admin/users/bulk', ADMIN_TOKEN, { count: Math.min(left, 10_000) });
    if (res.status !== 201) throw new Error(`bulk users: ${res.status} ${JSON.stringify(res.body)}`);
    out.push(...res.body.users);
  }
  return out;
}

export async function createProduct(
  env: Env,
  p: { price: number; stock: number; name?: string },
): Promise<string> {
  const res = await post(env, '/api/v1/admin/products', ADMIN_TOKEN, {
    name: p.name ?? `product-${Math.random().toString(36).slice(2, 8)}`,
    price: p.price,
    stock: p.stock,
  });
  if (res.status !== 201) throw new Error(`create product: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export async function createProducts(env: Env, list: { price: number; stock: number }[]): Promise<string[]> {
  const res = await post(env, '/api/v1/admin/products/bulk', ADMIN_TOKEN, {
    products: list.map((p, i) => ({ name: `bulk-${i}`, ...p })),
  });
  if (res.status !== 201) throw new Error(`bulk products: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.ids as string[];
}

/** Charges every user `amount` points through the API, `parallel` at a time. */
export async function chargeAll(env: Env, list: TestUser[], amount: number, parallel = 32): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, list.length) }, async () => {
      while (next < list.length) {
        const u = list[next++];
        const res = await post(env, '/api/v1/me/points/charge', u.token, { amount });
        if (res.status !== 200) throw new Error(`charge: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }),
  );
}

/** A coupon drop and one issued unit per given user; returns their userCouponIds in order. */
export async function issueCoupons(
  env: Env,
  holders: TestUser[],
  discount: { type: 'AMOUNT' | 'PERCENT'; value: number },
  extra: Record<string, unknown> = {},
): Promise<string[]> {
  const c = await post(env, '/api/v1/admin/coupons', ADMIN_TOKEN, {
    name: 'test coupon',
    discount,
    quantity: Math.max(1, holders.length),
    ...extra,
  });
  if (c.status !== 201) throw new Error(`coupon: ${c.status} ${JSON.stringify(c.body)}`);
  const ids: string[] = [];
  for (const u of holders) {
    const r = await call(env, 'POST', `/api/v1/coupons/${c.body.id}/issue`, { token: u.token });
    if (r.status !== 201) throw new Error(`issue: ${r.status} ${JSON.stringify(r.body)}`);
    ids.push(r.body.userCouponId);
  }
  return ids;
}

export function order(
  env: Env,
  token: string,
  items: { productId: string; quantity: number }[],
  userCouponId?: string,
  base?: string,
): Promise<Res> {
  return call(env, 'POST', '/api/v1/orders', {
    token,
    base,
    body: { items, ...(userCouponId ? { userCouponId } : {}) },
  });
}

export async function one<T extends pg.QueryResultRow>(
  env: Env,
  text: string,
  params: unknown[] = [],
): Promise<T> {
  const { rows } = await env.sql.query<T>(text, params);
  return rows[0];
}

/** Every wallet equals the sum of its ledger, and no ledger exists without its wallet. */
export async function ledgerMismatches(env: Env): Promise<number> {
  const r = await one<{ n: number }>(
    env,
    `SELECT count(*)::int AS n FROM (
       SELECT w.user_id FROM point_wallets w
       LEFT JOIN (SELECT user_id, sum(amount) AS s FROM point_ledger GROUP BY user_id) l ON l.user_id = w.user_id
       WHERE w.balance <> COALESCE(l.s, 0)
       UNION ALL
       SELECT l.user_id FROM point_ledger l LEFT JOIN point_wallets w ON w.user_id = l.user_id WHERE w.user_id IS NULL
     ) bad`,
  );
  return r.n;
}

export async function waitFor(what: string, cond: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function countBy<T>(list: T[], key: (t: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of list) out[String(key(x))] = (out[String(key(x))] ?? 0) + 1;
  return out;
}

export type { Mode, TestUser };
export { ADMIN_TOKEN };
