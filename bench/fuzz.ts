/**
 * The long fuzz run: `npm run bench:fuzz` builds it and runs main(); importing this module does
 * nothing. The generators and oracles are those of the quick run in `npm test`
 * (test/fuzz/fuzzer.ts), with more requests per operation and the valid tops of large ranges.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { serverEntry } from '../src/drill/process.js';
import {
  type FuzzReport,
  fetchOpenApi,
  formatReport,
  fuzz,
  mix,
  operationsOf,
  prepareContext,
  seedFromEnv,
} from '../test/fuzz/fuzzer.js';
import { parseBenchArgs } from './lib/options.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';
import { scrape } from './lib/server-metrics.js';
import { withServerUnderTest } from './lib/servers.js';

export const USAGE = `OpenAPI-driven fuzzing, long run: npm run bench:fuzz [-- --per-operation 5000 --quick]

Starts a server under test (\`node dist/cli.js serve\`, embedded by default), reads its OpenAPI
document (GET /docs/json) and sends, for every /api operation, generated malformed requests (types,
ranges, lengths, encodings, NUL and control characters, nesting, content types, tokens none /
garbage / admin / user) and raw-socket requests with broken HTTP framing. Fails (exit 1) on any 5xx,
any 4xx that is not problem+json, any stack trace, internal path or database message in a body, any
raw request left unanswered, or heap growth over --heap-bound-mib (the server's heap in use, from
/metrics, idle before and after). Prints the seed; FUZZ_SEED=<seed> replays the same requests.

Options:
  --per-operation N      generated HTTP requests per operation (default 5000; --quick: 500)
  --raw-per-operation N  raw-socket requests per operation (default 300; --quick: 40)
  --connections N        requests in flight at once (default 32)
  --heap-bound-mib N     allowed growth of the server's heap in use (default 256)
  --modes LIST           embedded,cluster (default embedded)
  --server-env LIST      extra env for the server under test, e.g. RATE_LIMIT_ENABLED=true
                         (rate limits are off by default: they would answer most requests 429)
  --json FILE            also write the report as JSON
  --quick                a short run
  -h, --help             this text
Env: FUZZ_SEED (replay), BENCH_PG_URL and BENCH_REDIS_URL (cluster mode).
`;

const MIB = 1_048_576;

/** The server's V8 heap in use, from its /metrics. */
async function serverHeap(url: string): Promise<number> {
  const rows = await scrape(url);
  const row = rows.find((r) => r.name === 'nodejs_heap_size_used_bytes');
  if (!row) throw new Error('/metrics has no nodejs_heap_size_used_bytes');
  return row.value;
}

/** The lowest heap in use over `ms` of no load: what is still live once V8 collected. */
async function idleHeap(url: string, ms: number): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (const until = Date.now() + ms; Date.now() < until; ) {
    low = Math.min(low, await serverHeap(url));
    await new Promise((r) => setTimeout(r, 500));
  }
  return low;
}

interface ModeResult {
  mode: string;
  report: FuzzReport;
  heapBeforeMiB: number;
  heapAfterMiB: number;
  heapSamplesMiB: number[];
  pass: boolean;
}

export async function main(argv: readonly string[], cleanups: Cleanups): Promise<number> {
  const opts = parseBenchArgs(argv, {
    connections: 32,
    duration: 1,
    quickDuration: 1,
    warmup: 0,
    quickWarmup: 0,
    modes: ['embedded'],
    allowedModes: ['embedded', 'cluster'],
    extra: {
      'per-operation': [5_000, 500],
      'raw-per-operation': [300, 40],
      'heap-bound-mib': [256, 256],
    },
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  // Rate limits would answer most of the run 429 and hide what the input does; on unless asked.
  const serverEnv = { RATE_LIMIT_ENABLED: 'false', ...opts.serverEnv };
  const seed = seedFromEnv();
  log(`seed ${seed} (replay: FUZZ_SEED=${seed})`);
  const results: ModeResult[] = [];
  for (const mode of ['embedded', 'cluster'] as const) {
    if (!opts.modes.has(mode)) continue;
    results.push(
      await withServerUnderTest(mode, cleanups, { serverEnv }, 4, async (sut) => {
        const url = sut.server.url;
        const doc = await fetchOpenApi(url);
        const ops = operationsOf(doc);
        log(`${mode}: ${ops.length} operations; setting up users, a product, a coupon and an order`);
        const ctx = await prepareContext(url, sut.adminToken, true);
        await fuzz({ baseUrl: url, doc, ctx, seed: mix(seed, 0xa11), perOperation: 20, rawPerOperation: 4 });
        const before = await idleHeap(url, 3_000);
        const samples: number[] = [before];
        const total = ops.length * (opts.extra['per-operation'] + opts.extra['raw-per-operation']);
        let lastSample = 0;
        log(`${mode}: sending ${total} requests, ${opts.connections} at a time`);
        const report = await fuzz({
          baseUrl: url,
          doc,
          ctx,
          seed,
          perOperation: opts.extra['per-operation'],
          rawPerOperation: opts.extra['raw-per-operation'],
          concurrency: opts.connections,
          onProgress: (done) => {
            if (done - lastSample < total / 10) return;
            lastSample = done;
            void serverHeap(url).then(
              (h) => {
                samples.push(h);
                log(`${mode}: ${done}/${total} sent, server heap ${(h / MIB).toFixed(1)} MiB`);
              },
              () => {},
            );
          },
        });
        const after = await idleHeap(url, 6_000);
        samples.push(after);
        const growth = (after - before) / MIB;
        const pass = report.failureCount === 0 && growth < opts.extra['heap-bound-mib'];
        process.stdout.write(
          `\n[${mode}] ${formatReport(report)}\n  server heap in use (idle): ${(before / MIB).toFixed(1)} MiB before, ${(after / MIB).toFixed(1)} MiB after (growth ${growth.toFixed(1)} MiB, bound ${opts.extra['heap-bound-mib']} MiB)\n  ${pass ? 'PASS' : 'FAIL'}\n`,
        );
        return {
          mode,
          report,
          heapBeforeMiB: before / MIB,
          heapAfterMiB: after / MIB,
          heapSamplesMiB: samples.map((s) => Math.round((s / MIB) * 10) / 10),
          pass,
        };
      }),
    );
  }
  if (opts.jsonFile) writeFileSync(opts.jsonFile, JSON.stringify({ seed, results }, null, 2));
  return results.every((r) => r.pass) ? 0 : 1;
}

if (isMain(import.meta.url))
  runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE, 90 * 60_000);
