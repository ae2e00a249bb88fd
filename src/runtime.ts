/**
 * The composition root: config → infrastructure (src/infra/index.ts) → modules in dependency order
 * (src/kernel/compose.ts) → background work. `close()` undoes it in reverse: modules close in
 * reverse dependency order (loops stop, pending commits flush), then the infrastructure
 * (connections, the embedded PostgreSQL).
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import type { AppParts } from './app.js';
import type { Config } from './config.js';
import type { Readiness } from './http/operations.js';
import { createInfra, type Infra } from './infra/index.js';
import { type ComposedModule, compose } from './kernel/compose.js';
import type { AnyModuleDefinition, ModuleServices } from './kernel/module.js';
import { MODULES } from './modules/index.js';

export type Lifecycle = 'starting' | 'ready' | 'draining';

export interface Runtime extends AppParts {
  config: Config;
  infra: Infra;
  log: FastifyBaseLogger;
  modules: readonly ComposedModule[];
  /** Every composed module's service, by module name. */
  services: ModuleServices;
  /** /readyz answers 503 unless 'ready'. */
  lifecycle: { state: Lifecycle };
  /** Where embedded mode keeps the admin token, for the start banner. */
  adminTokenFile?: string;
  /** The admin token in force (generated once in embedded mode). */
  adminToken: string;
  /** Starts every module's background work (unless RUN_BACKGROUND=false); failures are logged. */
  startBackground(): Promise<void>;
  close(): Promise<void>;
}

export function createLogger(config: Config): FastifyBaseLogger {
  return pino({ level: config.logLevel, base: { pid: process.pid } }) as unknown as FastifyBaseLogger;
}

export async function createRuntime(
  config: Config,
  log: FastifyBaseLogger = createLogger(config),
  definitions: readonly AnyModuleDefinition[] = MODULES,
): Promise<Runtime> {
  const running = await createInfra(config, log);
  const { infra } = running;
  let composition: Awaited<ReturnType<typeof compose>>;
  try {
    composition = await compose(definitions, infra);
  } catch (err) {
    await running.close();
    throw err;
  }
  const lifecycle: { state: Lifecycle } = { state: 'starting' };
  let started: Promise<void> | null = null;
  let closed = false;

  const readiness = async (): Promise<Readiness> => {
    const [infraChecks, moduleChecks] = await Promise.all([running.checks(), composition.health()]);
    const checks = { ...infraChecks, ...moduleChecks };
    const statuses = Object.values(checks).map((c) => c.status);
    const serving = lifecycle.state === 'ready' && checks.postgres.status === 'up';
    const ready = serving && !Object.values(moduleChecks).some((c) => c.status === 'down');
    const degraded = ready && statuses.some((s) => s === 'down' || s === 'degraded');
    return {
      ready,
      body: {
        status: ready
          ? degraded
            ? 'degraded'
            : 'ready'
          : lifecycle.state === 'ready'
            ? 'unavailable'
            : lifecycle.state,
        mode: config.mode,
        checks,
      },
    };
  };

  return {
    config,
    infra,
    log,
    metrics: infra.metrics,
    tokens: infra.tokens,
    modules: composition.modules,
    services: composition.services as ModuleServices,
    lifecycle,
    adminToken: running.adminToken,
    adminTokenFile: running.adminTokenFile,
    readiness,
    startBackground() {
      if (!config.runBackground || closed) return Promise.resolve();
      started ??= composition
        .start()
        .catch((err) => log.error({ err }, 'a module failed to start its background work'));
      return started;
    },
    async close() {
      if (closed) return;
      closed = true;
      await started; // a module still starting is closed after it started
      await composition.close((name, err) => log.warn({ err, module: name }, 'error while closing a module'));
      await running.close();
    },
  };
}
