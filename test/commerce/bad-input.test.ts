/** Bad input on every commerce route gets its documented 4xx problem+json, never a 5xx. */

import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  chargeAll,
  createProduct,
  type Env,
  startEnv,
  type TestUser,
  users,
} from './support.js';

interface Case {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  token?: 'user' | 'admin' | 'none' | 'garbage';
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

describe('bad input on commerce routes', () => {
  let env: Env;
  let u: TestUser;
  let product: string;
  beforeAll(async () => {
    env = await startEnv('embedded');
    [u] = await users(env, 1);
    await chargeAll(env, [u], 1_000);
    product = await createProduct(env, { price: 10, stock: 10 });
  });
  afterAll(() => env?.close());

  const p = (name: string, extra: Partial<Case> & Pick<Case, 'status' | 'code'>): Case => ({
    name,
    method: 'POST',
    path: '/api/v1/orders',
    token: 'user',
    ...extra,
  });
  const item = (q: number, id = 'P') => ({ productId: id, quantity: q });

  const cases = (): Case[] => [
    // points
    {
      name: 'balance without token',
      method: 'GET',
      path: '/api/v1/me/points',
      token: 'none',
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'balance with garbage token',
      method: 'GET',
      path: '/api/v1/me/points',
      token: 'garbage',
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'balance with admin token',
      method: 'GET',
      path: '/api/v1/me/points',
      token: 'admin',
      status: 403,
      code: 'FORBIDDEN',
    },
    ...[0, -5, 1_000_001, 1.5, 'lots', null, { n: 1 }].map((amount) =>
      p(`charge amount ${JSON.stringify(amount)}`, {
        path: '/api/v1/me/points/charge',
        body: { amount },
        status: 400,
        code: 'VALIDATION_FAILED',
      }),
    ),
    p('charge without amount', {
      path: '/api/v1/me/points/charge',
      body: {},
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('charge extra field', {
      path: '/api/v1/me/points/charge',
      body: { amount: 1, bonus: 1 },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('charge broken JSON', {
      path: '/api/v1/me/points/charge',
      raw: '{"amount":',
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('charge as XML', {
      path: '/api/v1/me/points/charge',
      raw: 'amount=1',
      headers: { 'content-type': 'application/xml' },
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
    }),
    p('charge with a 256-char key', {
      path: '/api/v1/me/points/charge',
      body: { amount: 1 },
      headers: { 'idempotency-key': 'k'.repeat(256) },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('charge with a key holding a space', {
      path: '/api/v1/me/points/charge',
      body: { amount: 1 },
      headers: { 'idempotency-key': 'a b' },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    {
      name: 'history limit 0',
      method: 'GET',
      path: '/api/v1/me/points/history?limit=0',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'history limit 101',
      method: 'GET',
      path: '/api/v1/me/points/history?limit=101',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'history forged cursor',
      method: 'GET',
      path: '/api/v1/me/points/history?cursor=abc',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'history cursor of junk',
      method: 'GET',
      path: '/api/v1/me/points/history?cursor=%27%3B--',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    // catalog
    p('create product without token', {
      path: '/api/v1/admin/products',
      token: 'none',
      body: { name: 'x', price: 1, stock: 1 },
      status: 401,
      code: 'UNAUTHENTICATED',
    }),
    p('create product as a user', {
      path: '/api/v1/admin/products',
      body: { name: 'x', price: 1, stock: 1 },
      status: 403,
      code: 'FORBIDDEN',
    }),
    ...[
      { name: '', price: 1, stock: 1 },
      { name: '   ', price: 1, stock: 1 },
      { name: 'x', price: -1, stock: 1 },
      { name: 'x', price: 1, stock: -1 },
      { name: 'x', price: 1.5, stock: 1 },
      { name: 'x', price: 1, stock: 2_000_000_000 },
      { name: 'x', price: 1 },
      { name: 'x'.repeat(201), price: 1, stock: 1 },
      { name: 'x', price: 1, stock: 1, description: 'd'.repeat(2001) },
      { name: 'x', price: 1, stock: 1, id: '5' },
    ].map((body, i) =>
      p(`create product invalid #${i}`, {
        path: '/api/v1/admin/products',
        token: 'admin',
        body,
        status: 400,
        code: 'VALIDATION_FAILED',
      }),
    ),
    p('bulk of 0', {
      path: '/api/v1/admin/products/bulk',
      token: 'admin',
      body: { products: [] },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('bulk of 10,001', {
      path: '/api/v1/admin/products/bulk',
      token: 'admin',
      body: { products: Array.from({ length: 10_001 }, () => ({ name: 'x', price: 1, stock: 1 })) },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('bulk with one bad product', {
      path: '/api/v1/admin/products/bulk',
      token: 'admin',
      body: {
        products: [
          { name: 'x', price: 1, stock: 1 },
          { name: 'y', price: -1, stock: 1 },
        ],
      },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    {
      name: 'list limit 0',
      method: 'GET',
      path: '/api/v1/products?limit=0',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'list limit abc',
      method: 'GET',
      path: '/api/v1/products?limit=abc',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'list forged cursor',
      method: 'GET',
      path: '/api/v1/products?cursor=aTotMQ',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    { name: 'detail of a word', method: 'GET', path: '/api/v1/products/abc', status: 404, code: 'NOT_FOUND' },
    {
      name: 'detail of a huge id',
      method: 'GET',
      path: '/api/v1/products/99999999999999999999999',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'detail of a missing id',
      method: 'GET',
      path: '/api/v1/products/987654321',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'popular days 0',
      method: 'GET',
      path: '/api/v1/products/popular?days=0',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'popular days 31',
      method: 'GET',
      path: '/api/v1/products/popular?days=31',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'popular limit 51',
      method: 'GET',
      path: '/api/v1/products/popular?limit=51',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'popular days abc',
      method: 'GET',
      path: '/api/v1/products/popular?days=abc',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    // orders
    p('order without token', {
      token: 'none',
      body: { items: [item(1)] },
      status: 401,
      code: 'UNAUTHENTICATED',
    }),
    p('order as admin', { token: 'admin', body: { items: [item(1)] }, status: 403, code: 'FORBIDDEN' }),
    p('order with no items', { body: { items: [] }, status: 400, code: 'VALIDATION_FAILED' }),
    p('order without items', { body: {}, status: 400, code: 'VALIDATION_FAILED' }),
    p('order with 101 lines', {
      body: { items: Array.from({ length: 101 }, (_, i) => item(1, String(i + 1))) },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('order quantity 0', { body: { items: [item(0)] }, status: 400, code: 'VALIDATION_FAILED' }),
    p('order quantity 1001', { body: { items: [item(1001)] }, status: 400, code: 'VALIDATION_FAILED' }),
    p('order quantity 1.5', { body: { items: [item(1.5)] }, status: 400, code: 'VALIDATION_FAILED' }),
    p('order repeated product', {
      body: { items: [item(1), item(2)] },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('order extra field', { body: { items: [item(1)], price: 0 }, status: 400, code: 'VALIDATION_FAILED' }),
    p('order line extra field', {
      body: { items: [{ ...item(1), price: 0 }] },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    p('order items not an array', { body: { items: 'P' }, status: 400, code: 'VALIDATION_FAILED' }),
    p('order broken JSON', { raw: '{"items":[', status: 400, code: 'VALIDATION_FAILED' }),
    p('order of a missing product', {
      body: { items: [item(1, '987654321')] },
      status: 404,
      code: 'NOT_FOUND',
    }),
    p('order of a product named by a word', {
      body: { items: [item(1, 'abc')] },
      status: 404,
      code: 'NOT_FOUND',
    }),
    p('order with a coupon named by a word', {
      body: { items: [item(1)], userCouponId: 'x' },
      status: 409,
      code: 'COUPON_UNAVAILABLE',
    }),
    p('order with a missing coupon', {
      body: { items: [item(1)], userCouponId: '987654321' },
      status: 409,
      code: 'COUPON_UNAVAILABLE',
    }),
    p('order with an empty key', {
      body: { items: [item(1)] },
      headers: { 'idempotency-key': '' },
      status: 400,
      code: 'VALIDATION_FAILED',
    }),
    {
      name: 'order of a word',
      method: 'GET',
      path: '/api/v1/orders/abc',
      token: 'user',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'order of a missing id',
      method: 'GET',
      path: '/api/v1/orders/987654321',
      token: 'user',
      status: 404,
      code: 'NOT_FOUND',
    },
    {
      name: 'order without token',
      method: 'GET',
      path: '/api/v1/orders/1',
      token: 'none',
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'my orders limit 1000',
      method: 'GET',
      path: '/api/v1/me/orders?limit=1000',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'my orders forged cursor',
      method: 'GET',
      path: '/api/v1/me/orders?cursor=zzzz',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
    {
      name: 'notifications limit -1',
      method: 'GET',
      path: '/api/v1/me/notifications?limit=-1',
      token: 'user',
      status: 400,
      code: 'VALIDATION_FAILED',
    },
  ];

  it('answers every malformed request with its documented 4xx and code', async () => {
    const failures: string[] = [];
    for (const c of cases()) {
      const headers: Record<string, string> = {
        ...(c.body !== undefined || c.raw ? { 'content-type': 'application/json' } : {}),
      };
      if (c.token === 'user' || c.token === undefined) headers.authorization = `Bearer ${u.token}`;
      if (c.token === 'admin') headers.authorization = `Bearer ${ADMIN_TOKEN}`;
      if (c.token === 'garbage') headers.authorization = 'Bearer not.a.jwt';
      if (c.method === 'GET' && c.token === undefined) delete headers.authorization;
      Object.assign(headers, c.headers);
      const body =
        c.raw ??
        (c.body === undefined ? undefined : JSON.stringify(c.body).replaceAll('"P"', `"${product}"`));
      const res = await request(env.url(c.path), { method: c.method, headers, body, dispatcher: env.agent });
      const text = await res.body.text();
      const json = JSON.parse(text);
      if (
        res.statusCode !== c.status ||
        json.code !== c.code ||
        !String(res.headers['content-type']).startsWith('application/problem+json')
      ) {
        failures.push(
          `${c.name}: got ${res.statusCode} ${json.code} (${json.detail}), want ${c.status} ${c.code}`,
        );
      }
      expect(res.statusCode).toBeLessThan(500);
    }
    expect(failures).toEqual([]);
    // Nothing above was taken.
    const stock = await env.sql.query('SELECT stock FROM products WHERE id = $1', [product]);
    expect(stock.rows[0].stock).toBe(10);
  });
});
