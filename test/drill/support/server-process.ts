/**
 * A real stampede server as a child process (`node dist/cli.js serve`, embedded mode, throwaway
 * DATA_DIR, free port), for tests that must inspect the server after the drill is done with it.
 * Started by the drill's spawner; this only adapts its answer to what the drill tests use.
 */
import { spawnServer, TARGETING_ENV } from '../../../src/drill/process.js';

export interface ServerProcess {
  url: string;
  adminToken: string;
  dataDir: string;
  /** The embedded PostgreSQL, from the files the server keeps in DATA_DIR. */
  databaseUrl: string;
  stop(): Promise<void>;
}

export async function startServerProcess(): Promise<ServerProcess> {
  const server = await spawnServer({
    tempDataDir: 'stampede-drill-test-',
    stripEnv: TARGETING_ENV,
    // The drills in these tests send everything from 127.0.0.1, as the drill's own server allows.
    env: { LOG_LEVEL: 'warn', RATE_LIMIT_ALLOW_LOOPBACK: 'true' },
    readyTimeoutMs: 90_000,
  });
  const { adminToken, dataDir, databaseUrl } = server;
  if (!adminToken || !dataDir || !databaseUrl) {
    await server.stop('SIGINT');
    throw new Error(`embedded server ready without its admin token or PostgreSQL:\n${server.tail()}`);
  }
  return {
    url: server.url,
    adminToken,
    dataDir,
    databaseUrl,
    async stop() {
      await server.stop('SIGINT');
    },
  };
}
