/**
 * What every benchmark process shares: its log line, usage errors, undo actions for every resource
 * it creates, and an end that always runs them (on success, on error, on SIGINT/SIGTERM and after a
 * watchdog), so no server, database or Redis key outlives a benchmark.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Progress on stderr: `[bench HH:MM:SS] message`. */
export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** A bad command line: printed with the usage, exit code 2. */
export class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

/** Undo actions, run last-registered first, each once; a failing one is logged and the rest still run. */
export class Cleanups {
  private readonly stack: { name: string; fn: () => Promise<void> }[] = [];
  private running: Promise<void> | null = null;

  /** Registers `fn`; the returned function runs it now instead (and unregisters it). */
  add(name: string, fn: () => Promise<void>): () => Promise<void> {
    const entry = { name, fn };
    this.stack.push(entry);
    return async () => {
      const i = this.stack.indexOf(entry);
      if (i < 0) return;
      this.stack.splice(i, 1);
      await fn();
    };
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (let entry = this.stack.pop(); entry; entry = this.stack.pop()) {
        try {
          await entry.fn();
        } catch (err) {
          log(`cleanup "${entry.name}" failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.running;
  }
}

/** True when `moduleUrl` (import.meta.url) is the script node was started with. */
export function isMain(moduleUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(path.resolve(script)).href === moduleUrl;
}

/**
 * Runs a benchmark's `main` and exits with the code it returns (2 for a BenchUsageError, 1 for any
 * other error, 130 on SIGINT/SIGTERM), after every cleanup ran. Gives up after `watchdogMs`.
 */
export function runBench(
  main: (cleanups: Cleanups) => Promise<number>,
  usage: string,
  watchdogMs = 30 * 60_000,
): void {
  const cleanups = new Cleanups();
  const finish = (code: number) =>
    cleanups.runAll().finally(() => {
      process.exit(code);
    });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping servers and cleaning up`);
      void finish(130);
    });
  }
  setTimeout(() => {
    log(`watchdog: still running after ${watchdogMs / 60_000} min; giving up`);
    void finish(1);
  }, watchdogMs).unref();
  main(cleanups).then(
    (code) => finish(code),
    (err: unknown) => {
      if (err instanceof BenchUsageError) {
        process.stderr.write(`bench: ${err.message}\n\n${usage}`);
        return finish(2);
      }
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      return finish(1);
    },
  );
}
