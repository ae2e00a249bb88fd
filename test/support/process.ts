/**
 * Real server processes (`node dist/cli.js serve`) for multi-process and kill -9 tests, started
 * by the drill's spawner. `npm test` builds dist/ before vitest runs.
 */
import { type ServerProcess, spawnServer as spawnServerProcess } from '../../src/drill/process.js';

export { freePort } from '../../src/drill/net.js';
export type { ServerProcess };

/**
 * A server with `env` over the test defaults (LOG_LEVEL=warn, PG_POOL_MAX=6, rate limits out of
 * reach of a storm from loopback), on `port` or a free one, output kept in memory, ready within
 * 60 s. `kill(signal)` signals it (default SIGTERM).
 */
export function spawnServer(env: Record<string, string>, port?: number): Promise<ServerProcess> {
  return spawnServerProcess({
    env: {
      LOG_LEVEL: 'warn',
      PG_POOL_MAX: '6',
      RATE_LIMIT_USER_PER_MINUTE: '1000000000',
      RATE_LIMIT_IP_PER_MINUTE: '1000000000',
      ...env,
    },
    port,
    readyTimeoutMs: 60_000,
  });
}
