/**
 * Cluster mode under faults, with real processes on one PostgreSQL + Redis:
 *   - two server processes splitting a storm stay exact together;
 *   - kill -9 one of them mid-burst, restart it → nothing oversold, no duplicate, every 201 the client
 *     saw is in PostgreSQL, and after reconciliation the gate's remaining = quantity − rows;
 *   - the coupon's gate keys deleted mid-burst → rebuilt from PostgreSQL, still exact;
 *   - Redis unreachable → issuance goes on through the PostgreSQL-only path, still exact.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKeys } from '../../src/infra/redis/keys.js';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  httpClient,
  JWT_SECRET,
  startTestServer,
  type TestDatabase,
  type TestUser,
} from '../support/harness.js';
import { type ServerProcess, spawnServer } from '../support/process.js';
import { redisProxy } from '../support/redis.js';

type Answer = { user: TestUser; status: number; code?: string };

async function audit(databaseUrl: string, couponId: string, answers: Answer[], quantity: number) {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const rows = (
      await c.query<{ user_id: string }>(
        'SELECT user_id::text AS user_id FROM user_coupons WHERE coupon_id = $1',
        [couponId],
      )
    ).rows.map((r) => r.user_id);
    const issued = (await c.query('SELECT quantity, issued_count FROM coupons WHERE id = $1', [couponId]))
      .rows[0];
    const held = new Set(rows);
    // No oversell; no duplicate; the counter agrees with the rows.
    expect(rows.length).toBeLessThanOrEqual(quantity);
    expect(held.size).toBe(rows.length);
    expect(issued.issued_count).toBe(rows.length);
    // Every 201 the clients saw is durable.
    const acked = answers.filter((a) => a.status === 201).map((a) => a.user.id);
    for (const id of acked)
      expect(held.has(id), `acknowledged user ${id} missing from PostgreSQL`).toBe(true);
    expect(new Set(acked).size).toBe(acked.length);
    return { rows: rows.length, acked: acked.length };
  } finally {
    await c.end();
  }
}

describe.skipIf(!clusterAvailable())('cluster mode: several processes and faults', () => {
  let db: TestDatabase;
  let users: TestUser[];
  const client = httpClient(512);
  const procs: ServerProcess[] = [];
  let env: Record<string, string>;
  const redisUrl = inject('redisUrl');

  beforeAll(async () => {
    db = await createDatabaseFor('cluster');
    env = {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: db.redisPrefix,
      ADMIN_TOKEN,
      JWT_SECRET,
      RECONCILE_AFTER_MS: '1000',
      RECONCILE_INTERVAL_MS: '250',
    };
    procs.push(await spawnServer(env), await spawnServer(env));
    users = await createUsers(procs[0].url, 6000);
  });
  afterAll(async () => {
    await client.close();
    for (const p of procs) if (p.child.exitCode === null) await p.kill('SIGKILL');
    await db?.drop();
  });

  async function createCoupon(base: string, quantity: number): Promise<string> {
    const res = await client.call('POST', `${base}/api/v1/admin/coupons`, {
      token: ADMIN_TOKEN,
      body: { name: `q${quantity}`, discount: { type: 'AMOUNT', value: 100 }, quantity },
    });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  /** Each user tries once against the given bases (round-robin); transport errors count as status 0. */
  async function storm(bases: () => string[], couponId: string, who: TestUser[]): Promise<Answer[]> {
    return Promise.all(
      who.map(async (user, i) => {
        const list = bases();
        const base = list[i % list.length];
        try {
          const res = await client.call('POST', `${base}/api/v1/coupons/${couponId}/issue`, {
            token: user.token,
          });
          return { user, status: res.status, code: res.body?.code };
        } catch {
          return { user, status: 0 };
        }
      }),
    );
  }

  it('two processes splitting 4,000 users over 1,000 units issue exactly 1,000', async () => {
    const couponId = await createCoupon(procs[0].url, 1000);
    const who = [...users.slice(0, 3000), ...users.slice(0, 1000)];
    const answers = await storm(() => procs.map((p) => p.url), couponId, who);
    const ok = answers.filter((a) => a.status === 201);
    expect(ok).toHaveLength(1000);
    for (const a of answers) expect([201, 409, 410]).toContain(a.status);
    const { rows } = await audit(db.url, couponId, answers, 1000);
    expect(rows).toBe(1000);
  });

  it('survives kill -9 of one process mid-burst: exact, durable, and reconciled after restart', async () => {
    const quantity = 2000;
    const couponId = await createCoupon(procs[0].url, quantity);
    const victim = procs[1];
    const who = users.slice(0, 4000);
    let killed = false;
    const stormP = storm(() => (killed ? [procs[0].url] : procs.map((p) => p.url)), couponId, who);
    await new Promise((r) => setTimeout(r, 150));
    victim.child.kill('SIGKILL');
    killed = true;
    await victim.exited;
    const answers = await stormP;
    // The kill really landed mid-burst: some requests were answered, some lost with the process.
    expect(answers.some((a) => a.status === 201)).toBe(true);
    expect(answers.some((a) => a.status === 0)).toBe(true);
    const { rows } = await audit(db.url, couponId, answers, quantity);

    // Restart the victim on the same port, then let the reconciler give back the reservations that
    // died with it: the gate must end up agreeing with PostgreSQL.
    procs[1] = await spawnServer(env, victim.port);
    const r = new Redis(redisUrl);
    const keys = createKeys(db.redisPrefix);
    try {
      const deadline = Date.now() + 15_000;
      let gateRemaining = -1;
      while (Date.now() < deadline) {
        gateRemaining = Number(await r.get(keys.couponRemaining(couponId)));
        const pending = await r.zcard(keys.couponPending(couponId));
        if (pending === 0 && gateRemaining === quantity - rows) break;
        await new Promise((res) => setTimeout(res, 200));
      }
      expect(gateRemaining).toBe(quantity - rows);
    } finally {
      r.disconnect();
    }
    // And the API agrees.
    await new Promise((res) => setTimeout(res, 300));
    const view = await client.call('GET', `${procs[0].url}/api/v1/coupons/${couponId}`);
    expect(view.body.remaining).toBe(quantity - rows);
    // Anyone who lost their answer to the kill can still get a unit if any are left.
    const again = await storm(() => procs.map((p) => p.url), couponId, users.slice(4000, 6000));
    await audit(db.url, couponId, [...answers, ...again], quantity);
  });

  it('rebuilds the gate from PostgreSQL when its keys are deleted mid-burst, and stays exact', async () => {
    const quantity = 1500;
    const couponId = await createCoupon(procs[0].url, quantity);
    const r = new Redis(redisUrl);
    const keys = createKeys(db.redisPrefix);
    try {
      const stormP = storm(() => procs.map((p) => p.url), couponId, users.slice(0, 5000));
      for (let i = 0; i < 3; i++) {
        await new Promise((res) => setTimeout(res, 60));
        await r.del(keys.couponRemaining(couponId), keys.couponUsers(couponId), keys.couponPending(couponId));
      }
      const answers = await stormP;
      const { rows, acked } = await audit(db.url, couponId, answers, quantity);
      expect(rows).toBe(quantity);
      expect(acked).toBe(quantity);
      // A second storm by the same users only meets duplicates and sold out.
      const again = await storm(() => procs.map((p) => p.url), couponId, users.slice(0, 2000));
      for (const a of again) expect([409, 410]).toContain(a.status);
      expect(await r.exists(keys.couponRemaining(couponId))).toBe(1);
    } finally {
      r.disconnect();
    }
  });
});

describe.skipIf(!clusterAvailable())('cluster mode: Redis unreachable', () => {
  it('keeps issuing exactly through the PostgreSQL-only path, and readiness reports it', async () => {
    const db = await createDatabaseFor('cluster');
    const proxy = await redisProxy(new URL(inject('redisUrl')));
    const server = await startTestServer(db, { redisUrl: proxy.url });
    const client = httpClient(256);
    try {
      const users = await createUsers(server.url, 3000);
      const created = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
        token: ADMIN_TOKEN,
        body: { name: 'no-redis', discount: { type: 'AMOUNT', value: 1 }, quantity: 800 },
      });
      const couponId = created.body.id;
      // Half the users go while Redis is up, then Redis vanishes mid-storm.
      const issue = (u: TestUser) =>
        client
          .call('POST', `${server.url}/api/v1/coupons/${couponId}/issue`, { token: u.token })
          .then((res) => ({
            user: u,
            status: res.status,
            code: res.body?.code as string | undefined,
          }));
      const first = Promise.all(users.slice(0, 1500).map(issue));
      await new Promise((r) => setTimeout(r, 30));
      proxy.cut();
      const answersA = await first;
      const answersB = await Promise.all([...users.slice(1500), ...users.slice(0, 500)].map(issue));
      const answers = [...answersA, ...answersB];
      // A 503 with Retry-After (nothing issued) is a documented answer when the single test machine
      // is saturated (it was seen once under CI load, code not recorded); anything else is a bug.
      const odd = answers.filter((a) => ![201, 409, 410].includes(a.status));
      for (const a of odd) expect(`${a.status} ${a.code}`).toMatch(/^503 (UNAVAILABLE|OVERLOADED)$/);
      expect(odd.length, JSON.stringify(odd.map((a) => a.code))).toBeLessThan(answers.length * 0.02);
      expect(answers.filter((a) => a.status === 201)).toHaveLength(800);
      await audit(db.url, couponId, answers, 800);

      const ready = await client.call('GET', `${server.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect(ready.body.checks.redis.status).toBe('down');
      const metrics = await client.call('GET', `${server.url}/metrics`);
      expect(String(metrics.body)).toMatch(
        /stampede_gate_fallback_total\{reason="(breaker_open|gate_error)"\} [1-9]/,
      );

      // Redis comes back: the gate (stale while PostgreSQL issued alone) cannot make it oversell.
      proxy.restore();
      await new Promise((r) => setTimeout(r, 2500)); // breaker half-opens after 2 s
      const more = await Promise.all(users.slice(0, 3000).map(issue));
      for (const a of more) expect([409, 410]).toContain(a.status);
      await audit(db.url, couponId, [...answers, ...more], 800);
    } finally {
      await client.close();
      await server.close();
      await proxy.close();
      await db.drop();
    }
  });
});

describe('embedded mode: kill -9 and restart on the same data directory', () => {
  it('loses no acknowledged issue and oversells nothing', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stampede-kill-'));
    const client = httpClient(256);
    let proc = await spawnServer({ DATA_DIR: dataDir });
    try {
      const admin = proc.adminToken ?? '';
      const bulk = await client.call('POST', `${proc.url}/api/v1/admin/users/bulk`, {
        token: admin,
        body: { count: 3000 },
      });
      const who: TestUser[] = bulk.body.users;
      const created = await client.call('POST', `${proc.url}/api/v1/admin/coupons`, {
        token: admin,
        body: { name: 'kill', discount: { type: 'AMOUNT', value: 1 }, quantity: 1000 },
      });
      const couponId = created.body.id;
      const url = proc.url;
      let acked = 0;
      const stormP = Promise.all(
        who.map((u) =>
          client
            .call('POST', `${url}/api/v1/coupons/${couponId}/issue`, { token: u.token })
            .then((r) => {
              if (r.status === 201) acked += 1;
              return { user: u, status: r.status };
            })
            .catch(() => ({ user: u, status: 0 })),
        ),
      );
      // Kill once the first issues are acknowledged (a fixed delay missed them on a busy machine).
      for (const deadline = Date.now() + 20_000; acked === 0 && Date.now() < deadline; )
        await new Promise((r) => setTimeout(r, 5));
      proc.child.kill('SIGKILL');
      await proc.exited;
      const answers = await stormP;
      expect(answers.some((a) => a.status === 201)).toBe(true);
      expect(answers.some((a) => a.status === 0)).toBe(true); // the kill landed mid-burst
      // Restart on the same data: the orphaned PostgreSQL is stopped and the server takes over.
      proc = await spawnServer({ DATA_DIR: dataDir }, proc.port);
      const dbUrl = proc.databaseUrl ?? '';
      const { rows } = await audit(dbUrl, couponId, answers, 1000);
      const view = await client.call('GET', `${proc.url}/api/v1/coupons/${couponId}`);
      expect(view.body.remaining).toBe(1000 - rows);
      // The rebuilt in-process gate agrees: the rest of the stock goes to new users, exactly.
      const again = await Promise.all(
        who.map((u) =>
          client
            .call('POST', `${proc.url}/api/v1/coupons/${couponId}/issue`, { token: u.token })
            .then((r) => ({ user: u, status: r.status })),
        ),
      );
      const total = await audit(dbUrl, couponId, [...answers, ...again], 1000);
      expect(total.rows).toBe(1000);
    } finally {
      await client.close();
      await proc.kill('SIGINT');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
