/**
 * What the drill runs against. Either a running stampede (--target URL + admin token), or — by
 * default — an embedded server the drill starts for itself as a SEPARATE process
 * (`node dist/cli.js serve` with PORT=<free port>, DATA_DIR=<throwaway temp dir>), so the server
 * and the load generator never share an event loop. Readiness is polled on /readyz; the admin
 * token is read from DATA_DIR/admin-token. stop() sends SIGINT (the server drains and stops its
 * PostgreSQL), waits, escalates to SIGKILL after 30 s, then removes the temp dir.
 * In embedded mode the drill also knows the server's PostgreSQL (DATA_DIR/pg-password and the
 * port in DATA_DIR/pg/postmaster.pid), so the audit can read the database directly.
 * The embedded server is started with RATE_LIMIT_ALLOW_LOOPBACK=true (see startEmbeddedTarget).
 */
import { DrillRunError } from './errors.js';
import { answers200, ServerStartError, spawnServer, TARGETING_ENV } from './process.js';

export interface Target {
  baseUrl: string;
  adminToken: string;
  embedded: boolean;
  /** Direct PostgreSQL access for the audit, when known. */
  databaseUrl?: string;
  /** Embedded mode: the server's stdout+stderr. */
  serverLog?: string;
  stop(): Promise<void>;
}

export async function externalTarget(
  baseUrl: string,
  adminToken: string,
  databaseUrl?: string,
): Promise<Target> {
  const url = baseUrl.replace(/\/+$/, '');
  // A target under load (or a machine shared with the drill) may be slow to answer once: try for ~15 s.
  let ok = false;
  for (let attempt = 0; attempt < 5 && !ok; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 500 * attempt));
    ok = await answers200(`${url}/readyz`, 3_000);
  }
  if (!ok) {
    throw new DrillRunError(
      `--target ${url}: GET ${url}/readyz did not answer 200 in 5 tries; is the server running ` +
        'and ready? Start one with `npm start`, or leave out --target and the drill starts its own.',
    );
  }
  return { baseUrl: url, adminToken, embedded: false, databaseUrl, stop: async () => {} };
}

/**
 * The drill's own server: `node dist/cli.js serve` in its own process group (a Ctrl-C in the
 * terminal reaches the drill only; the drill audits first and then stops the server itself), with
 * a throwaway DATA_DIR, its output appended to `logFile`. stop() sends SIGINT, SIGKILL after 30 s,
 * and removes the DATA_DIR. A failed start is a DrillRunError with the tail of the server's log.
 */
export async function startEmbeddedTarget(logFile: string, startTimeoutMs = 120_000): Promise<Target> {
  try {
    const server = await spawnServer({
      name: 'the embedded server',
      tempDataDir: 'stampede-drill-',
      stripEnv: TARGETING_ENV,
      // Every VU sends from 127.0.0.1: a per-address rate limit would throttle the rehearsal
      // itself, not the crowd it stands for, so the drill's own server exempts loopback clients.
      env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', RATE_LIMIT_ALLOW_LOOPBACK: 'true' },
      logFile,
      detached: true,
      readyTimeoutMs: startTimeoutMs,
      stopGraceMs: 30_000,
      signalOnExit: 'SIGINT',
    });
    return {
      baseUrl: server.url,
      adminToken: server.adminToken ?? '',
      embedded: true,
      databaseUrl: server.databaseUrl,
      serverLog: logFile,
      stop: async () => {
        await server.stop('SIGINT');
      },
    };
  } catch (err) {
    if (err instanceof ServerStartError) throw new DrillRunError(err.message);
    throw err;
  }
}
