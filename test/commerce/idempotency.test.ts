/**
 * Idempotency-Key, in both modes: a key has its effect once however it is retried (concurrently,
 * then in sequence, and from two processes in cluster mode), replays return the same status and
 * body, and a key reused with another body is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterAvailable, startTestServer, type TestServer } from '../support/harness.js';
import {
  call,
  chargeAll,
  createProduct,
  type Env,
  get,
  type Mode,
  one,
  post,
  startEnv,
  users,
} from './support.js';

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`Idempotency-Key (${mode})`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(mode);
    });
    afterAll(() => env?.close());

    it('places one order for one key sent 50× concurrently then 50× in sequence; every answer is that 201 or IN_PROGRESS', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 100_000);
      const product = await createProduct(env, { price: 1_000, stock: 1_000 });
      const body = { items: [{ productId: product, quantity: 3 }] };
      const burst = await Promise.all(
        Array.from({ length: 50 }, () => post(env, '/api/v1/orders', u.token, body, 'order-key-1')),
      );
      const after = [];
      for (let i = 0; i < 50; i++)
        after.push(await post(env, '/api/v1/orders', u.token, body, 'order-key-1'));
      const all = [...burst, ...after];
      const created = all.filter((r) => r.status === 201);
      const busy = all.filter((r) => r.status === 409);
      expect(created.length + busy.length).toBe(100);
      expect(busy.every((r) => r.body.code === 'IDEMPOTENCY_IN_PROGRESS' && r.headers['retry-after'])).toBe(
        true,
      );
      expect(after.every((r) => r.status === 201)).toBe(true);
      expect(new Set(created.map((r) => JSON.stringify(r.body))).size).toBe(1);
      expect(created.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(
        created.length - 1,
      );
      const db = await one<{ orders: number; uses: number; stock: number }>(
        env,
        `SELECT (SELECT count(*)::int FROM orders WHERE user_id = $1) AS orders,
                (SELECT count(*)::int FROM point_ledger WHERE user_id = $1 AND type = 'USE') AS uses,
                (SELECT stock FROM products WHERE id = $2) AS stock`,
        [u.id, product],
      );
      expect(db).toEqual({ orders: 1, uses: 1, stock: 997 });
      expect((await get(env, `/api/v1/orders/${created[0].body.orderId}`, u.token)).body).toEqual(
        created[0].body,
      );
    });

    it('charges once for one key sent 50× concurrently then 50× in sequence', async () => {
      const [u] = await users(env, 1);
      const burst = await Promise.all(
        Array.from({ length: 50 }, () =>
          post(env, '/api/v1/me/points/charge', u.token, { amount: 777 }, 'charge-key'),
        ),
      );
      const after = [];
      for (let i = 0; i < 50; i++)
        after.push(await post(env, '/api/v1/me/points/charge', u.token, { amount: 777 }, 'charge-key'));
      const all = [...burst, ...after];
      expect(
        all.every(
          (r) => (r.status === 200 && r.body.balance === 777) || r.body?.code === 'IDEMPOTENCY_IN_PROGRESS',
        ),
      ).toBe(true);
      expect(after.every((r) => r.status === 200)).toBe(true);
      expect((await get(env, '/api/v1/me/points', u.token)).body).toEqual({ balance: 777 });
      const n = await one<{ n: number }>(
        env,
        'SELECT count(*)::int AS n FROM point_ledger WHERE user_id = $1',
        [u.id],
      );
      expect(n.n).toBe(1);
    });

    it('answers 422 IDEMPOTENCY_KEY_REUSED to the same key with another body or on another endpoint', async () => {
      const [u] = await users(env, 1);
      await chargeAll(env, [u], 10_000);
      const product = await createProduct(env, { price: 10, stock: 100 });
      const first = await post(
        env,
        '/api/v1/orders',
        u.token,
        { items: [{ productId: product, quantity: 1 }] },
        'k-422',
      );
      expect(first.status).toBe(201);
      const other = await post(
        env,
        '/api/v1/orders',
        u.token,
        { items: [{ productId: product, quantity: 2 }] },
        'k-422',
      );
      expect(other.status).toBe(422);
      expect(other.body.code).toBe('IDEMPOTENCY_KEY_REUSED');
      const elsewhere = await post(env, '/api/v1/me/points/charge', u.token, { amount: 5 }, 'k-422');
      expect(elsewhere.status).toBe(422);
      const c1 = await post(env, '/api/v1/me/points/charge', u.token, { amount: 5 }, 'k-charge');
      const c2 = await post(env, '/api/v1/me/points/charge', u.token, { amount: 6 }, 'k-charge');
      expect([c1.status, c2.status, c2.body.code]).toEqual([200, 422, 'IDEMPOTENCY_KEY_REUSED']);
      // Nothing was taken twice nor by the refused requests.
      expect((await get(env, '/api/v1/me/points', u.token)).body).toEqual({ balance: 10_000 - 10 + 5 });
    });

    it('keeps no key for a failed request: after topping up, the same key and body succeeds once', async () => {
      const [u] = await users(env, 1);
      const product = await createProduct(env, { price: 500, stock: 10 });
      const body = { items: [{ productId: product, quantity: 1 }] };
      const poor = await post(env, '/api/v1/orders', u.token, body, 'k-retry');
      expect([poor.status, poor.body.code]).toEqual([402, 'INSUFFICIENT_POINTS']);
      await chargeAll(env, [u], 500);
      const ok = await post(env, '/api/v1/orders', u.token, body, 'k-retry');
      const replay = await post(env, '/api/v1/orders', u.token, body, 'k-retry');
      expect([ok.status, replay.status]).toEqual([201, 201]);
      expect(replay.body).toEqual(ok.body);
      expect((await get(env, '/api/v1/me/points', u.token)).body).toEqual({ balance: 0 });
    });

    it.skipIf(mode !== 'cluster')(
      'has one effect when the same key reaches two processes at once',
      async () => {
        const second: TestServer = await startTestServer(env.db);
        try {
          const [u] = await users(env, 1);
          await chargeAll(env, [u], 100_000);
          const product = await createProduct(env, { price: 100, stock: 1_000 });
          const body = { items: [{ productId: product, quantity: 1 }] };
          const res = await Promise.all(
            Array.from({ length: 40 }, (_, i) =>
              call(env, 'POST', '/api/v1/orders', {
                token: u.token,
                body,
                idemKey: 'two-processes',
                base: i % 2 ? second.url : env.server.url,
              }),
            ),
          );
          const created = res.filter((r) => r.status === 201);
          expect(created.length + res.filter((r) => r.body?.code === 'IDEMPOTENCY_IN_PROGRESS').length).toBe(
            40,
          );
          expect(new Set(created.map((r) => r.body.orderId)).size).toBe(1);
          const n = await one<{ n: number }>(
            env,
            'SELECT count(*)::int AS n FROM orders WHERE user_id = $1',
            [u.id],
          );
          expect(n.n).toBe(1);
        } finally {
          await second.close();
        }
      },
    );
  });
}
