/**
 * What tracing costs: the coupon benchmark's two scenarios (durable issuance, sold-out spike) on
 * the same server mode with tracing off and on, alternated round by round in one run. Importing
 * this module does nothing; `npm run bench:tracing` builds it and runs main().
 */

import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serverEntry } from '../src/drill/process.js';
import { BULK_MAX } from '../src/drill/scenarios/users.js';
import { type ResultRow, runServer, startBare } from './coupons.js';
import { fmt, machine, ms, paddedTable } from './lib/format.js';
import { type Mode, parseBenchArgs } from './lib/options.js';
import { BenchUsageError, type Cleanups, isMain, log, runBench } from './lib/run.js';

export const USAGE = `Tracing overhead benchmark: npm run bench:tracing [-- --modes cluster --rounds 2 --ratio 0.1 --quick]

The coupon benchmark's scenarios (npm run bench:coupons: durable issuance and the sold-out spike,
each audited against PostgreSQL) against \`node dist/cli.js serve\`, once per variant per round:
  off   tracing off (the default: no OTEL_* variables)
  floor tracing on but sampling nothing (OTEL_TRACES_SAMPLER=always_off): what being ready to trace
        costs by itself (the SDK's AsyncLocalStorage context, which on Node 20 runs a hook for every
        promise and socket write, and a non-recording request span per request)
  on    OTEL_EXPORTER_OTLP_ENDPOINT set to a collector stand-in in this process (OTLP/HTTP JSON,
        counted and dropped), OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG
        = --ratio (default 0.1: one request in ten is traced, its spans exported in batches)
Rounds alternate off, floor, on, off, ... so drift on a shared machine hits all alike; each run is
measured against the bare Fastify route right before it (req/s ÷ bare), and the verdict compares
those ratios, on ÷ off, averaged over the rounds. Target: tracing on costs ≤ 5 % throughput.

Options:
  --modes LIST      embedded or cluster, or both (default cluster)
  --rounds N        off/on pairs (default 2; --quick: 1)
  --ratio R         sampling ratio when on (default 0.1)
  --connections N   concurrent connections (default 100)
  --duration S      seconds per measured run (default 10; --quick: 3)
  --quick           short runs for a smoke check
  -h, --help        this text
Load goes to 127.0.0.1 only; every run is bounded in time.
`;

/** An OTLP/HTTP JSON collector stand-in: counts spans and drops them. */
async function collector() {
  const state = { requests: 0, spans: 0 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      state.requests += 1;
      try {
        for (const rs of JSON.parse(body).resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) state.spans += (ss.spans ?? []).length;
      } catch {
        // not ours to judge
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

type Variant = 'off' | 'floor' | 'on';

interface VariantRun {
  variant: Variant;
  round: number;
  mode: 'embedded' | 'cluster';
  rows: ResultRow[];
  spans: number;
}

function ratioToBare(r: ResultRow): number {
  return r.bare ? r.rps / r.bare.rps : Number.NaN;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function main(argv: readonly string[], cleanups: Cleanups): Promise<number> {
  const ratioArg = argv.indexOf('--ratio');
  const ratio = ratioArg >= 0 ? Number(argv[ratioArg + 1]) : 0.1;
  if (!(ratio > 0 && ratio <= 1)) throw new BenchUsageError('--ratio must be a number in (0, 1]');
  const rest = ratioArg >= 0 ? [...argv.slice(0, ratioArg), ...argv.slice(ratioArg + 2)] : [...argv];
  const opts = parseBenchArgs(rest, {
    connections: 100,
    duration: 10,
    quickDuration: 3,
    warmup: 3,
    quickWarmup: 1,
    modes: ['cluster'],
    allowedModes: ['embedded', 'cluster'],
    extra: { rounds: [2, 1] },
  });
  if (opts.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(serverEntry()))
    throw new BenchUsageError('dist/cli.js is missing: run `npm run build` first');
  const m = machine();
  const sink = await collector();
  cleanups.add('collector', () => sink.close());
  const bare = await startBare(opts, cleanups);
  const first = await bare.measure('bare');
  const users = Math.max(
    30_000,
    Math.min(1_000_000, Math.ceil((first.rps * (opts.duration + opts.warmup) * 1.3) / BULK_MAX) * BULK_MAX),
  );
  const onEnv = {
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(ratio),
  };
  const floorEnv = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_off' };
  const envOf: Record<Variant, Record<string, string>> = { off: {}, floor: floorEnv, on: onEnv };
  const runs: VariantRun[] = [];
  const modes = [...opts.modes].filter((x): x is Exclude<Mode, 'bare'> => x !== 'bare');
  for (const mode of modes) {
    for (let round = 1; round <= opts.extra.rounds; round++) {
      for (const variant of ['off', 'floor', 'on'] as const) {
        log(`${mode} round ${round}: tracing ${variant}`);
        const before = sink.state.spans;
        const serverEnv = { ...opts.serverEnv, ...envOf[variant] };
        const rows = await runServer(mode, users, bare, { ...opts, serverEnv }, cleanups);
        runs.push({ variant, round, mode, rows, spans: sink.state.spans - before });
      }
    }
  }
  await bare.stop();
  await cleanups.runAll();

  const head = [
    'mode',
    'round',
    'tracing',
    'scenario',
    'req/s',
    'p99 ms',
    'req/s ÷ bare',
    'server µs/answer',
    'spans exported',
  ];
  const table: string[][] = [];
  for (const r of runs)
    for (const row of r.rows)
      table.push([
        r.mode,
        String(r.round),
        r.variant,
        row.short,
        fmt(row.rps),
        ms(row.p99),
        ratioToBare(row).toFixed(3),
        fmt((row.cpu.server * 1e6) / row.rps),
        row.short === 'durable' ? fmt(r.spans) : '',
      ]);
  const out: string[] = [];
  out.push(
    `connections ${opts.connections}, ${opts.duration} s per measured run, sampling ratio ${ratio} when on; ` +
      `machine: ${m.cpus} × ${m.model}, node ${m.node}; ${new Date().toISOString().slice(0, 10)}`,
  );
  out.push(
    '',
    paddedTable(head, table),
    '',
    'against tracing off (req/s ÷ bare, and server CPU per answer; means over rounds; the target, for on: ≥ 0.95):',
  );
  let failed = false;
  for (const mode of modes)
    for (const short of ['durable', 'spike']) {
      const pick = (v: Variant) =>
        runs
          .filter((r) => r.mode === mode && r.variant === v)
          .flatMap((r) => r.rows.filter((x) => x.short === short));
      const off = pick('off');
      const cpuOf = (xs: ResultRow[]) => mean(xs.map((x) => (x.cpu.server * 1e6) / x.rps));
      for (const v of ['floor', 'on'] as const) {
        const xs = pick(v);
        const q = mean(xs.map(ratioToBare)) / mean(off.map(ratioToBare));
        const verdict = v === 'on' ? (q >= 0.95 ? ' MET' : ' MISSED') : '';
        out.push(
          `  ${mode.padEnd(8)} ${short.padEnd(8)} ${v.padEnd(5)} throughput ${q.toFixed(3)} × off${verdict}; server CPU per answer ${(cpuOf(xs) / cpuOf(off)).toFixed(3)} × off`,
        );
      }
    }
  out.push('', 'audits (PostgreSQL after each run):');
  for (const r of runs)
    for (const row of r.rows) {
      out.push(`  ${r.mode} round ${r.round} tracing ${r.variant} ${row.short}: ${row.audit?.text ?? '-'}`);
      if (row.audit && !row.audit.ok) failed = true;
    }
  process.stdout.write(`\n${out.join('\n')}\n`);
  return failed ? 1 : 0;
}

if (isMain(import.meta.url)) runBench((cleanups) => main(process.argv.slice(2), cleanups), USAGE);
