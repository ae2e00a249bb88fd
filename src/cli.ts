#!/usr/bin/env node
/**
 * stampede CLI: serve | worker | migrate | demo | drill | help.
 * Configuration comes from the environment (see README's table); a bad value stops here with a
 * sentence naming the variable (exit 78). A start-up failure with a known cause (port taken,
 * PostgreSQL or Redis unreachable, DATA_DIR not writable, embedded PostgreSQL not starting) prints
 * one sentence and the next step, no stack trace, and exits with its code (69 or 73); any other
 * error prints its stack and exits 1.
 */
import { ConfigError, loadConfig } from './config.js';

// The server's modules load only for the commands that run it, so `demo`, `drill` and `help`
// start quickly.
const serverModules = async () => ({ ...(await import('./server.js')), ...(await import('./runtime.js')) });

const USAGE = `usage: stampede <command>

  serve     serve the HTTP API (embedded mode unless DATABASE_URL and REDIS_URL are set)
  worker    run background work only (reconcilers, outbox relay), no HTTP
  migrate   apply database migrations and exit
  demo      load sample data into a running server: stampede demo [--target URL] [--admin-token T]
  drill     rehearse a drop: stampede drill <scenario> [options] (stampede drill --help)
  help      this text
`;

function onSignals(stop: () => Promise<void>): void {
  let signalled = false;
  const handler = (sig: string) => {
    if (signalled) {
      process.stderr.write(`\n${sig} again: exiting now\n`);
      process.exit(130);
    }
    signalled = true;
    process.stderr.write(`\n${sig}: finishing in-flight requests and pending commits...\n`);
    stop()
      .then(() => process.exit(0))
      .catch((err) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      });
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}

async function main(argv: string[]): Promise<void> {
  const [command = 'serve'] = argv;
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return;
  }
  if (command === 'drill') {
    const { runDrillCli } = await import('./drill/cli.js');
    process.exitCode = await runDrillCli(argv.slice(1));
    return;
  }
  if (command === 'demo') {
    const { runDemoCli } = await import('./demo.js');
    process.exitCode = await runDemoCli(argv.slice(1));
    return;
  }
  const config = loadConfig();
  // Tracing on (OTEL_* variables): the SDK is registered before the server's modules load, so the
  // pg and ioredis instrumentations see those libraries load; its spans are flushed at shutdown.
  const otel =
    config.tracesExporter && (command === 'serve' || command === 'worker')
      ? await (await import('./infra/otel.js')).startOtelSdk(config.tracesExporter)
      : null;
  const { checkStartup, createRuntime, explainRuntimeFailure, printBanner, startServer } =
    await serverModules();
  const flushed = (stop: () => Promise<void>) => async () => {
    await stop();
    await otel?.shutdown();
  };
  switch (command) {
    case 'serve': {
      // In a terminal the banner is what a person reads: without an explicit LOG_LEVEL, only
      // warnings and errors are logged there (as JSON lines, like everywhere else).
      const quietLogs = Boolean(process.stdout.isTTY) && !process.env.LOG_LEVEL;
      const serveConfig = quietLogs ? { ...config, logLevel: 'warn' } : config;
      const server = await startServer(serveConfig);
      onSignals(flushed(server.stop));
      printBanner(server, serveConfig, { quietLogs });
      return;
    }
    case 'worker': {
      await checkStartup(config, { listens: false });
      const runtime = await createRuntime({ ...config, runBackground: true }).catch((err) => {
        throw explainRuntimeFailure(err, config);
      });
      runtime.lifecycle.state = 'ready';
      void runtime.startBackground();
      onSignals(flushed(() => runtime.close()));
      runtime.log.info('worker running (background work of every module)');
      return;
    }
    case 'migrate': {
      await checkStartup(config, { listens: false });
      if (!config.databaseUrl) {
        // embedded: starts PG and migrates
        const runtime = await createRuntime(config).catch((err) => {
          throw explainRuntimeFailure(err, config);
        });
        await runtime.close();
      } else {
        const { migrate } = await import('./infra/postgres/migrate.js');
        const applied = await migrate(config.databaseUrl, () => {});
        process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'nothing to apply\n');
      }
      return;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      process.exit(2);
  }
}

main(process.argv.slice(2)).catch(async (err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(78);
  }
  const { StartupError } = await import('./server.js');
  if (err instanceof StartupError) {
    const hint = err.hint
      .split('\n')
      .map((line) => `  ${line}`)
      .join('\n');
    process.stderr.write(`stampede could not start: ${err.message}\n${hint}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(
    `stampede failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
