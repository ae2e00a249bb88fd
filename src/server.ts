/**
 * `stampede serve`: runtime + app + listen, and a graceful stop on SIGINT/SIGTERM — readiness goes
 * 503, in-flight requests finish, pending group commits flush, connections close, the embedded
 * PostgreSQL stops.
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import type { Config } from './config.js';
import { createRuntime, type Runtime } from './runtime.js';

export interface Server {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(config: Config): Promise<Server> {
  const runtime = await createRuntime(config);
  const app = await buildApp(runtime, runtime.log);
  await app.listen({ port: config.port, host: config.host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  runtime.lifecycle.state = 'ready';
  void runtime.startBackground();
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      runtime.lifecycle.state = 'draining';
      await app.close();
      await runtime.close();
    })();
    return stopping;
  };
  return { app, runtime, url, stop };
}

export function printBanner(server: Server, config: Config): void {
  const lines = [
    '',
    `  stampede is serving in ${config.mode} mode`,
    `  API        ${server.url}/api/v1`,
    `  docs       ${server.url}/docs`,
    `  metrics    ${server.url}/metrics`,
    `  health     ${server.url}/healthz  ${server.url}/readyz`,
  ];
  lines.push(`  admin      Authorization: Bearer ${server.runtime.adminToken}`);
  if (server.runtime.adminTokenFile) lines.push(`             (also in ${server.runtime.adminTokenFile})`);
  if (config.mode === 'embedded') lines.push(`  data       ${config.dataDir}`);
  lines.push('  Ctrl-C stops it cleanly.', '');
  process.stdout.write(`${lines.join('\n')}\n`);
}
