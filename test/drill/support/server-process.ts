/**
 * A real stampede server as a child process (`node dist/cli.js serve`, embedded mode, throwaway
 * DATA_DIR, free port), for tests that must inspect the server after the drill is done with it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../../src/infra/net.js';
import { CLI } from './run-cli.js';

export interface ServerProcess {
  url: string;
  adminToken: string;
  dataDir: string;
  /** The embedded PostgreSQL, from the files the server keeps in DATA_DIR. */
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function startServerProcess(): Promise<ServerProcess> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'stampede-drill-test-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
  };
  for (const k of ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'JWT_SECRET']) delete env[k];
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (d) => {
    log = (log + String(d)).slice(-4_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${log}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`server not ready in 90 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const password = readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
  const pgPort = readFileSync(path.join(dataDir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[3];
  return {
    url,
    adminToken: readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim(),
    dataDir,
    databaseUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/postgres`,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await gone;
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
