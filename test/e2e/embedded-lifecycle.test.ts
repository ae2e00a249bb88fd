/**
 * What `npm start` promises: embedded PostgreSQL under DATA_DIR, an admin token generated once and
 * printed, Ctrl-C (SIGINT) stops everything cleanly, and the next start reuses the data.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { httpClient } from '../support/harness.js';
import { spawnServer } from '../support/process.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('embedded mode lifecycle', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stampede-life-'));
  const client = httpClient(8);
  afterAll(async () => {
    await client.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts, prints the admin token, stops cleanly on SIGINT and reuses its data on the next start', async () => {
    const first = await spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    expect(token.length).toBeGreaterThanOrEqual(16);
    await new Promise((r) => setTimeout(r, 100));
    expect(first.output()).toContain(`Authorization: Bearer ${token}`);
    expect(first.output()).toContain('/docs');
    const created = await client.call('POST', `${first.url}/api/v1/admin/coupons`, {
      token,
      body: { name: 'persisted', discount: { type: 'AMOUNT', value: 1 }, quantity: 3 },
    });
    expect(created.status).toBe(201);
    const pgPid = Number(readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    expect(alive(pgPid)).toBe(true);

    const exit = await first.kill('SIGINT');
    expect(exit.code).toBe(0);
    expect(alive(pgPid)).toBe(false); // PostgreSQL stopped with it
    expect(existsSync(path.join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);

    const second = await spawnServer({ DATA_DIR: dataDir, LOG_LEVEL: 'warn' });
    try {
      expect(readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim()).toBe(token);
      const again = await client.call('GET', `${second.url}/api/v1/coupons/${created.body.id}`);
      expect(again.status).toBe(200);
      expect(again.body.name).toBe('persisted');
    } finally {
      expect((await second.kill('SIGTERM')).code).toBe(0);
    }
  });

  it('drains on SIGINT mid-burst: in-flight issues finish, every 201 is committed, exit 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stampede-drain-'));
    const server = await spawnServer({ DATA_DIR: dir, LOG_LEVEL: 'warn' });
    try {
      const token = readFileSync(path.join(dir, 'admin-token'), 'utf8').trim();
      const bulk = await client.call('POST', `${server.url}/api/v1/admin/users/bulk`, {
        token,
        body: { count: 2000 },
      });
      const coupon = await client.call('POST', `${server.url}/api/v1/admin/coupons`, {
        token,
        body: { name: 'drain', discount: { type: 'AMOUNT', value: 1 }, quantity: 100_000 },
      });
      const burst = Promise.all(
        (bulk.body.users as { id: string; token: string }[]).map((u) =>
          client
            .call('POST', `${server.url}/api/v1/coupons/${coupon.body.id}/issue`, { token: u.token })
            .then((r) => ({ id: u.id, status: r.status }))
            .catch(() => ({ id: u.id, status: 0 })),
        ),
      );
      await new Promise((r) => setTimeout(r, 150));
      const exit = server.kill('SIGINT');
      const answers = await burst;
      expect((await exit).code).toBe(0);
      const acked = answers.filter((a) => a.status === 201).map((a) => a.id);
      expect(acked.length).toBeGreaterThan(0);
      expect(answers.some((a) => a.status !== 201)).toBe(true); // the signal landed mid-burst
      for (const a of answers) expect([0, 201, 503]).toContain(a.status); // refused or drained, never lost
      // Restart on the same data and check every acknowledged issue is there.
      const again = await spawnServer({ DATA_DIR: dir, LOG_LEVEL: 'warn' });
      try {
        const holders = await Promise.all(
          (bulk.body.users as { id: string; token: string }[])
            .filter((u) => acked.includes(u.id))
            .map((u) => client.call('GET', `${again.url}/api/v1/me/coupons`, { token: u.token })),
        );
        for (const h of holders)
          expect(h.body.items.map((i: { couponId: string }) => i.couponId)).toContain(coupon.body.id);
      } finally {
        await again.kill('SIGINT');
      }
    } finally {
      if (server.child.exitCode === null) await server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with a clear sentence on a bad configuration value', async () => {
    const { spawnSync } = await import('node:child_process');
    const res = spawnSync(process.execPath, ['dist/cli.js', 'serve'], {
      env: { ...process.env, PORT: 'eighty', DATA_DIR: dataDir },
      encoding: 'utf8',
    });
    expect(res.status).toBe(78);
    expect(res.stderr).toContain('PORT must be a whole number');
    const half = spawnSync(process.execPath, ['dist/cli.js', 'serve'], {
      env: { ...process.env, DATABASE_URL: 'postgres://x@127.0.0.1/y', REDIS_URL: '' },
      encoding: 'utf8',
    });
    expect(half.status).toBe(78);
    expect(half.stderr).toContain('needs both DATABASE_URL and REDIS_URL');
  });
});
