/**
 * The outbox delivers every event at least once: to a webhook that is down for a while and then
 * back, and after the process that held undelivered (even in-flight) events was killed with -9.
 * Notifications stay exactly one per event however often events are delivered.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  JWT_SECRET,
  type TestDatabase,
} from '../support/harness.js';
import {
  chargeAll,
  createProduct,
  type Env,
  issueCoupons,
  one,
  order,
  startEnv,
  users,
  waitFor,
} from './support.js';

type Mode = 'down' | 'hang' | 'up';

/** A data-platform stand-in on 127.0.0.1 that can be down (503), hang, or accept (200). */
async function webhookTarget() {
  const state = {
    mode: 'down' as Mode,
    received: new Map<string, number>(),
    bodies: new Map<string, unknown>(),
    attempts: 0,
  };
  const hanging: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      state.attempts += 1;
      if (state.mode === 'hang') {
        hanging.push(res);
        return;
      }
      if (state.mode === 'down') {
        res.writeHead(503).end();
        return;
      }
      const id = String(req.headers['x-event-id']);
      state.received.set(id, (state.received.get(id) ?? 0) + 1);
      state.bodies.set(id, JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    close: () =>
      new Promise<void>((r) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('outbox relay (embedded)', () => {
  let env: Env;
  let hook: Awaited<ReturnType<typeof webhookTarget>>;
  beforeAll(async () => {
    hook = await webhookTarget();
    env = await startEnv('embedded', {
      dataPlatformUrl: hook.url,
      outboxPollMs: 50,
      outboxRetryBaseMs: 50,
      outboxRetryMaxMs: 400,
    });
  });
  afterAll(async () => {
    await env?.close();
    await hook?.close();
  });

  it('delivers every event at least once to a webhook that was down, and records one notification per event', async () => {
    const buyers = await users(env, 10);
    await chargeAll(env, buyers, 10_000);
    const product = await createProduct(env, { price: 10, stock: 1_000 });
    await issueCoupons(env, buyers, { type: 'AMOUNT', value: 5 });
    for (const u of buyers)
      for (let i = 0; i < 3; i++)
        expect((await order(env, u.token, [{ productId: product, quantity: 1 }])).status).toBe(201);
    const events = await env.sql.query<{ id: string; topic: string }>(
      'SELECT id::text AS id, topic FROM outbox ORDER BY outbox.id',
    );
    expect(events.rows).toHaveLength(40); // 10 coupon.issued + 30 order.paid, written with their effects
    // Down: attempts are made and retried with backoff; nothing counts as delivered; local consumers are not held up.
    await waitFor('several failed attempts', async () => hook.state.attempts >= 80);
    // Rows the local pass holds are skipped by the webhook pass until it commits: under load that can
    // take a while, so wait until every event has been tried at least once.
    await waitFor(
      'every event tried',
      async () =>
        (await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM outbox WHERE webhook_attempts = 0'))
          .n === 0,
    );
    const pending = await one<{ n: number; tried: number }>(
      env,
      'SELECT count(*)::int AS n, min(webhook_attempts)::int AS tried FROM outbox WHERE webhook_done_at IS NULL',
    );
    expect(pending.n).toBe(40);
    expect(pending.tried).toBeGreaterThanOrEqual(1);
    await waitFor(
      'notifications',
      async () => (await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM notifications')).n === 40,
    );
    // Back up: everything arrives.
    hook.state.mode = 'up';
    await waitFor('every event delivered', async () =>
      events.rows.every((e) => hook.state.received.has(e.id)),
    );
    await waitFor(
      'outbox drained',
      async () =>
        (await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM outbox WHERE webhook_done_at IS NULL'))
          .n === 0,
    );
    const sample = hook.state.bodies.get(events.rows[events.rows.length - 1].id) as {
      topic: string;
      payload: { orderId: string };
    };
    expect(sample.topic).toBe('order.paid');
    expect(sample.payload.orderId).toMatch(/^\d+$/);
    // Redelivery to the local consumers (as after a crash between recording and marking) adds nothing.
    await env.sql.query('UPDATE outbox SET local_done_at = NULL');
    await waitFor(
      'local redelivery',
      async () =>
        (await one<{ n: number }>(env, 'SELECT count(*)::int AS n FROM outbox WHERE local_done_at IS NULL'))
          .n === 0,
    );
    const notes = await one<{ n: number; distinct: number }>(
      env,
      'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct FROM notifications',
    );
    expect(notes).toEqual({ n: 40, distinct: 40 });
  });
});

describe.skipIf(!clusterAvailable())('outbox relay survives kill -9 (cluster, child processes)', () => {
  let db: TestDatabase;
  let hook: Awaited<ReturnType<typeof webhookTarget>>;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // The child runs the compiled server; build it (npm test builds too, this keeps the file standalone).
    await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: process.cwd() }).catch(
      () => {},
    );
    await promisify(execFile)('node', ['scripts/copy-assets.mjs'], { cwd: process.cwd() });
    if (!existsSync('dist/cli.js') || !existsSync('dist/modules/outbox/relay.js'))
      throw new Error('build failed: no dist/cli.js');
    db = await createDatabaseFor('cluster');
    hook = await webhookTarget();
  }, 180_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await hook?.close();
    await db?.drop();
  });

  function serve(): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn('node', ['dist/cli.js', 'serve'], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        REDIS_URL: inject('redisUrl'),
        REDIS_PREFIX: db.redisPrefix,
        ADMIN_TOKEN,
        JWT_SECRET,
        PORT: '0',
        LOG_LEVEL: 'warn',
        DATA_PLATFORM_URL: hook.url,
        OUTBOX_POLL_MS: '50',
        OUTBOX_RETRY_BASE_MS: '50',
        OUTBOX_RETRY_MAX_MS: '300',
        OUTBOX_WEBHOOK_TIMEOUT_MS: '30000',
        PG_POOL_MAX: '6',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 60_000);
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve({ child, url: m[1] });
        }
      });
      child.stderr!.on('data', (d) => {
        out += d;
      });
      child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
    });
  }

  it('delivers events held by a process killed with -9 (some mid-delivery) after a restart, notifications once each', async () => {
    hook.state.mode = 'hang'; // the first process claims events and waits on the webhook forever
    const first = await serve();
    const env = { server: { url: first.url }, agent: undefined } as unknown as Env;
    const { Agent } = await import('undici');
    (env as { agent: unknown }).agent = new Agent({ connections: 32 });
    const sql = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      Object.assign(env, { sql });
      const buyers = await users(env, 20);
      await chargeAll(env, buyers, 1_000);
      const product = await createProduct(env, { price: 10, stock: 100 });
      for (const u of buyers)
        expect((await order(env, u.token, [{ productId: product, quantity: 1 }])).status).toBe(201);
      await waitFor('the webhook to hold requests in flight', async () => hook.state.attempts > 0);
      const before = await one<{ n: number }>(
        env,
        'SELECT count(*)::int AS n FROM outbox WHERE webhook_done_at IS NULL',
      );
      expect(before.n).toBe(20);

      first.child.kill('SIGKILL');
      await new Promise((r) => first.child.once('exit', r));
      hook.state.mode = 'up';
      await serve();
      const ids = (await sql.query<{ id: string }>('SELECT id::text AS id FROM outbox')).rows.map(
        (r) => r.id,
      );
      await waitFor(
        'every event delivered after the restart',
        async () => ids.every((id) => hook.state.received.has(id)),
        30_000,
      );
      await waitFor(
        'outbox drained',
        async () =>
          (
            await one<{ n: number }>(
              env,
              'SELECT count(*)::int AS n FROM outbox WHERE webhook_done_at IS NULL OR local_done_at IS NULL',
            )
          ).n === 0,
      );
      const notes = await one<{ n: number; distinct: number }>(
        env,
        'SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct FROM notifications',
      );
      expect(notes).toEqual({ n: 20, distinct: 20 });
    } finally {
      await sql.end();
      await (env as { agent: { close(): Promise<void> } }).agent.close();
    }
  });
});
