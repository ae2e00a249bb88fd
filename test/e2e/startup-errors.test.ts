/**
 * `node dist/cli.js serve` (built by `npm run build`) refusing to start for a known cause: one
 * sentence naming the setting, a hint with the next step, its exit code, and no stack trace
 * (no `    at ` line). An unknown cause still prints its stack and exits 1.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { projectRoot, TARGETING_ENV } from '../../src/drill/process.js';
import { createTestDatabase } from '../support/db.js';
import { freePort } from '../support/process.js';

const run = promisify(execFile);
const CLI = path.join(projectRoot(), 'dist', 'cli.js');
const STACK_LINE = /^ {4}at /m;
const CLUSTER = {
  ADMIN_TOKEN: 'startup-errors-admin-token',
  JWT_SECRET: 'startup-errors-jwt-secret-of-32-chars!!',
};

/** `serve` with `env` over an environment stripped of anything pointing at a server; never rejects. */
async function serve(env: Record<string, string>, timeout = 60_000) {
  const base: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'warn' };
  for (const k of TARGETING_ENV) delete base[k];
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'serve'], {
      env: { ...base, PORT: '0', ...env },
      timeout,
    });
    return { code: 0 as number | null, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; signal?: string; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : null,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
    };
  }
}

describe('start-up failures print one sentence and the next step', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'stampede-startup-'));
  // Run as root, the embedded PostgreSQL runs as an unprivileged user that must reach DATA_DIR/pg.
  chmodSync(tmp, 0o755);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('port in use: names PORT and HOST, suggests another port, starts no PostgreSQL (exit 69)', async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const dataDir = path.join(tmp, 'port');
    try {
      const res = await serve({ PORT: String(port), DATA_DIR: dataDir });
      expect(res.code).toBe(69);
      expect(res.stderr).toContain(
        `stampede could not start: Port ${port} on 127.0.0.1 is already in use (PORT=${port}, HOST=127.0.0.1).`,
      );
      expect(res.stderr).toContain(`pick another port: PORT=${port + 1} npm start`);
      expect(res.stderr).not.toMatch(STACK_LINE);
      expect(existsSync(path.join(dataDir, 'pg'))).toBe(false); // refused before PostgreSQL started
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('HOST that is no address of this machine: names HOST (exit 69)', async () => {
    // 192.0.2.0/24 is reserved for documentation: never a local address.
    const res = await serve({ HOST: '192.0.2.1', DATA_DIR: path.join(tmp, 'host') });
    expect(res.code).toBe(69);
    expect(res.stderr).toContain('HOST=192.0.2.1 is not an address of this machine');
    expect(res.stderr).toContain('Use HOST=127.0.0.1');
    expect(res.stderr).not.toMatch(STACK_LINE);
  });

  it('bad configuration: the sentence naming the variable, no stack (exit 78)', async () => {
    const res = await serve({ PORT: 'eighty', DATA_DIR: path.join(tmp, 'config') });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('configuration error: PORT must be a whole number');
    expect(res.stderr).not.toMatch(STACK_LINE);
  });

  it('DATA_DIR that cannot be written: names DATA_DIR (exit 73)', async () => {
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'not a folder');
    const res = await serve({ DATA_DIR: path.join(file, 'data') });
    expect(res.code).toBe(73);
    expect(res.stderr).toContain(
      `stampede could not start: DATA_DIR ${path.join(file, 'data')} cannot be written`,
    );
    expect(res.stderr).toContain('ENOTDIR');
    expect(res.stderr).toContain('Point DATA_DIR at a folder this user can write to');
    expect(res.stderr).not.toMatch(STACK_LINE);
  });

  it('embedded PostgreSQL that does not start: says where its log is (exit 69)', async () => {
    // A data folder that claims to be initialised but holds no configuration: postgres refuses it.
    const dataDir = path.join(tmp, 'broken-pg');
    mkdirSync(path.join(dataDir, 'pg'), { recursive: true });
    writeFileSync(path.join(dataDir, 'pg', 'PG_VERSION'), '18\n');
    const res = await serve({ DATA_DIR: dataDir });
    const log = path.join(dataDir, 'postgres.log');
    expect(res.code).toBe(69);
    expect(res.stderr).toContain(
      `stampede could not start: The embedded PostgreSQL under DATA_DIR (${dataDir}) did not start; its log is ${log}.`,
    );
    expect(res.stderr).toContain(`start over: rm -rf ${dataDir} && npm start`);
    expect(res.stderr).not.toMatch(STACK_LINE);
    expect(readFileSync(log, 'utf8')).toContain('postgresql.conf');
  });

  it('unreachable PostgreSQL in cluster mode: names DATABASE_URL, hides its password (exit 69)', async () => {
    const port = await freePort(); // nothing listens there;
    const url = `postgres://stampede:s3cret-pw@127.0.0.1:${port}/stampede`;
    const res = await serve({ ...CLUSTER, DATABASE_URL: url, REDIS_URL: inject('redisUrl') });
    expect(res.code).toBe(69);
    expect(res.stderr).toContain(
      `stampede could not start: Cannot reach PostgreSQL at DATABASE_URL (postgres://stampede:***@127.0.0.1:${port}/stampede): connect ECONNREFUSED`,
    );
    expect(res.stderr).toContain('Start PostgreSQL or fix DATABASE_URL');
    expect(res.stderr).not.toContain('s3cret-pw');
    expect(res.stderr).not.toMatch(STACK_LINE);
  });

  it('unreachable Redis in cluster mode: names REDIS_URL (exit 69)', async () => {
    const db = await createTestDatabase(inject('embeddedPgUrl'));
    try {
      const port = await freePort(); // nothing listens there;
      const res = await serve({ ...CLUSTER, DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}` });
      expect(res.code).toBe(69);
      expect(res.stderr).toContain(
        `stampede could not start: Cannot reach Redis at REDIS_URL (redis://127.0.0.1:${port}): connect ECONNREFUSED`,
      );
      expect(res.stderr).toContain('Start Redis or fix REDIS_URL');
      expect(res.stderr).not.toMatch(STACK_LINE);
    } finally {
      await db.drop();
    }
  });

  it.skipIf(!inject('redisAvailable'))('an unknown cause still prints its stack trace (exit 1)', async () => {
    // A migrations table naming a migration this build does not have: node-pg-migrate refuses it.
    const db = await createTestDatabase(inject('embeddedPgUrl'));
    try {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(
        "CREATE TABLE pgmigrations (id serial PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL); INSERT INTO pgmigrations (name, run_on) VALUES ('000_not_in_this_build', now())",
      );
      await c.end();
      const res = await serve({
        ...CLUSTER,
        DATABASE_URL: db.url,
        REDIS_URL: inject('redisUrl'),
        REDIS_PREFIX: `startup-errors-${process.pid}:`,
      });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('stampede failed to start: Error: Not run migration');
      expect(res.stderr).toMatch(STACK_LINE);
    } finally {
      await db.drop();
    }
  });
});
