#!/usr/bin/env node
/**
 * stampede CLI: serve | worker | migrate | help.
 * Configuration comes from the environment (see README's table); a bad value stops here with a
 * sentence naming the variable.
 */
import { ConfigError, loadConfig } from './config.js';
import { migrate } from './infra/postgres/migrate.js';
import { createRuntime } from './runtime.js';
import { printBanner, startServer } from './server.js';

const USAGE = `usage: stampede <command>

  serve     serve the HTTP API (embedded mode unless DATABASE_URL and REDIS_URL are set)
  worker    run background work only (reconcilers, outbox relay), no HTTP
  migrate   apply database migrations and exit
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
  const config = loadConfig();
  switch (command) {
    case 'serve': {
      const server = await startServer(config);
      onSignals(server.stop);
      printBanner(server, config);
      return;
    }
    case 'worker': {
      const runtime = await createRuntime({ ...config, runBackground: true });
      runtime.lifecycle.state = 'ready';
      void runtime.startBackground();
      onSignals(() => runtime.close());
      runtime.log.info('worker running (background work of every module)');
      return;
    }
    case 'migrate': {
      if (!config.databaseUrl) {
        const runtime = await createRuntime(config); // embedded: starts PG and migrates
        await runtime.close();
      } else {
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

main(process.argv.slice(2)).catch((err) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(78);
  }
  process.stderr.write(
    `stampede failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
