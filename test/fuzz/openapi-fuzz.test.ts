/**
 * The quick fuzz run of `npm test`: thousands of generated malformed requests, driven by the served
 * OpenAPI document, against a real server on a real socket (test/fuzz/fuzzer.ts says what is
 * generated and what is checked). Fails on any 5xx, any 4xx that is not problem+json, any stack
 * trace or internal path in a body, any raw-socket request left unanswered, and on heap growth
 * beyond a generous bound. The seed is printed; FUZZ_SEED=<seed> replays the run, and
 * FUZZ_PER_OPERATION / FUZZ_RAW_PER_OPERATION change its size. `npm run bench:fuzz` is the long run.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../support/harness.js';
import {
  type FuzzContext,
  fetchOpenApi,
  formatReport,
  fuzz,
  mix,
  operationsOf,
  prepareContext,
  seedFromEnv,
} from './fuzzer.js';

const PER_OPERATION = Number(process.env.FUZZ_PER_OPERATION ?? 200);
const RAW_PER_OPERATION = Number(process.env.FUZZ_RAW_PER_OPERATION ?? 16);
/** Heap growth allowed over the measured run, after a warm-up and a full GC on both sides. */
const HEAP_BOUND_BYTES = 96 * 1024 * 1024;

/** A full, synchronous garbage collection (exposes `gc` in this process if it is not yet). */
function collect(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
}

describe('OpenAPI-driven fuzzing (quick run)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let doc: unknown;
  let ctx: FuzzContext;

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    server = await startTestServer(db);
    doc = await fetchOpenApi(server.url);
    ctx = await prepareContext(server.url, ADMIN_TOKEN, false);
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it('reads every /api operation from the served OpenAPI document', () => {
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThanOrEqual(19);
    expect(ops.map((o) => o.id)).toContain('POST /api/v1/orders');
    expect(ops.find((o) => o.id === 'POST /api/v1/admin/products')?.access).toBe('admin');
  });

  it('answers every generated request with a problem+json 4xx or a success, never a 5xx, within a bounded heap', async () => {
    const seed = seedFromEnv();
    console.log(
      `fuzz: FUZZ_SEED=${seed} (${PER_OPERATION} HTTP + ${RAW_PER_OPERATION} raw requests per operation)`,
    );
    // Warm-up (caches, compiled validators, connection pools), then measure from a collected heap.
    await fuzz({
      baseUrl: server.url,
      doc,
      ctx,
      seed: mix(seed, 0xa11),
      perOperation: 20,
      rawPerOperation: 4,
    });
    collect();
    const before = process.memoryUsage().heapUsed;
    const report = await fuzz({
      baseUrl: server.url,
      doc,
      ctx,
      seed,
      perOperation: PER_OPERATION,
      rawPerOperation: RAW_PER_OPERATION,
      concurrency: 16,
    });
    collect();
    const growth = process.memoryUsage().heapUsed - before;
    const text = formatReport(report);
    console.log(`${text}\n  heap growth: ${(growth / 1_048_576).toFixed(1)} MiB`);
    expect(report.failureCount, text).toBe(0);
    expect(report.requests + report.rawRequests).toBeGreaterThan(
      0.9 * operationsOf(doc).length * (PER_OPERATION + RAW_PER_OPERATION),
    );
    expect(growth, `heap grew by ${growth} bytes`).toBeLessThan(HEAP_BOUND_BYTES);
  });
});
