/**
 * The spawner the drill, the tests and the benchmarks share (src/drill/process.ts), on tiny
 * stand-in servers (`node -e`): readiness, output, exit reporting, stop with escalation to the
 * process group, DATA_DIR cleanup, and what it reads back from DATA_DIR.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedPostgres, readAdminToken, ServerStartError, spawnServer } from '../../src/drill/process.js';

/** A server answering GET /readyz with `status`; prints its DATA_DIR and PORT first. */
function standIn(status: number, extra = ''): string[] {
  return [
    '-e',
    `const http = require('node:http');
     console.log('data', process.env.DATA_DIR, 'port', process.env.PORT, 'host', process.env.HOST);
     ${extra}
     http.createServer((req, res) => { res.statusCode = req.url === '/readyz' ? ${status} : 404; res.end('x'); })
       .listen(Number(process.env.PORT), process.env.HOST);`,
  ];
}

/** Running, not a zombie waiting for a reaper (an orphan killed here may stay one for a while). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('spawnServer', () => {
  it('resolves once /readyz answers 200, keeps the output, and stop() removes its temp DATA_DIR', async () => {
    const server = await spawnServer({
      command: standIn(200, "process.on('SIGTERM', () => process.exit(0));"),
      tempDataDir: 'stampede-spawn-test-',
      env: { STAMPEDE_SPAWN_TEST: '1' },
    });
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(server.running()).toBe(true);
    const dataDir = server.dataDir ?? '';
    expect(existsSync(dataDir)).toBe(true);
    expect(server.output()).toContain(`data ${dataDir} port ${server.port} host 127.0.0.1`);
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    expect(existsSync(dataDir)).toBe(false);
    expect(server.running()).toBe(false);
  });

  it('reports a server that exits during start, with its output', async () => {
    const err = await spawnServer({
      name: 'the stand-in',
      command: ['-e', "console.error('no config here'); process.exit(3)"],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as Error).message).toMatch(/^the stand-in exited during start \(code 3\):\nno config here/);
  });

  it('gives up after readyTimeoutMs and SIGKILLs the process group of a detached server that ignores SIGTERM', async () => {
    const pidFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'stampede-spawn-pid-')), 'grandchild');
    dirs.push(path.dirname(pidFile));
    const grandchild = `const g = require('node:child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, String(g.pid));
      process.on('SIGTERM', () => {});`;
    const err = await spawnServer({
      command: standIn(503, grandchild),
      detached: true,
      readyTimeoutMs: 1_000,
      stopGraceMs: 300,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerStartError);
    expect((err as ServerStartError).what).toBe('was not ready within 1 s');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid)).toBe(false);
  });

  it('reads the admin token and the embedded PostgreSQL from the files a server keeps in DATA_DIR', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'stampede-spawn-data-'));
    dirs.push(dir);
    expect(readAdminToken(dir)).toBeUndefined();
    expect(embeddedPostgres(dir)).toBeUndefined();
    writeFileSync(path.join(dir, 'admin-token'), 'stampede_admin_abc\n');
    writeFileSync(path.join(dir, 'pg-password'), 'p@ss/word\n');
    mkdirSync(path.join(dir, 'pg'));
    writeFileSync(path.join(dir, 'pg', 'postmaster.pid'), `4242\n${dir}/pg\n1700000000\n54329\n/tmp\n`);
    expect(readAdminToken(dir)).toBe('stampede_admin_abc');
    expect(embeddedPostgres(dir)).toEqual({
      url: 'postgres://postgres:p%40ss%2Fword@127.0.0.1:54329/postgres',
      port: 54329,
      pid: 4242,
    });
  });
});
