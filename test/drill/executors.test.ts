/**
 * The executors keep k6's semantics. The open model (ramping-arrival-rate) starts iterations on
 * its clock whatever the target does: against a target whose latency keeps growing it keeps the
 * schedule, lets latency grow and counts dropped iterations once every VU is busy; and because it
 * times requests from their SCHEDULED start, a stall cannot hide (coordinated omission), whereas
 * the closed model (ramping-vus) shows the same stall in only a handful of samples.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RampingArrivalRate } from '../../src/drill/executors/ramping-arrival-rate.js';
import { RampingVus } from '../../src/drill/executors/ramping-vus.js';
import type { Executor } from '../../src/drill/executors/types.js';
import { LoadClient } from '../../src/drill/http.js';
import { builtinMetrics, Registry } from '../../src/drill/metrics.js';
import { ArrivalSchedule } from '../../src/drill/stages.js';
import type { DrillSummary } from '../../src/drill/summary.js';
import { Timeline } from '../../src/drill/timeline.js';
import { Checks, VirtualUser } from '../../src/drill/vu.js';
import { FAKE_ADMIN_TOKEN, startFakeCouponApi } from './support/fake-coupon-api.js';
import { expectedExit, removeOutDirs, runDrillCli } from './support/run-cli.js';

afterAll(removeOutDirs);

let server: http.Server | null = null;
afterEach(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server?.close(r));
  }
  server = null;
});

/** A target answering 200 after delayMs(elapsed since start). */
async function target(delayMs: (elapsedMs: number) => number): Promise<string> {
  const started = Date.now();
  server = http.createServer((_req, res) => {
    setTimeout(
      () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      },
      delayMs(Date.now() - started),
    );
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Observed {
  scheduledMs: number;
  durationMs: number;
}

async function drive(executor: Executor, baseUrl: string, connections: number) {
  const registry = new Registry();
  const metrics = builtinMetrics(registry);
  const client = new LoadClient({ baseUrl, connections, timeoutMs: 10_000 }, metrics, new Timeline());
  const checks = new Checks(metrics.checks);
  const seen: Observed[] = [];
  let t0 = 0;
  const report = await executor.run({
    iteration: async (vu) => {
      const scheduled = vu.scheduledStart ?? performance.now();
      const res = await vu.request({ method: 'GET', path: '/x', name: 'x', expect: { 200: true } });
      seen.push({ scheduledMs: scheduled - t0, durationMs: res.durationMs });
    },
    newVu: (id) => {
      if (!t0) t0 = performance.now();
      return new VirtualUser(id, client, checks, 1);
    },
    metrics,
    stop: new AbortController().signal,
    onIterationError: (err) => {
      throw err;
    },
  });
  await client.close();
  const count = (name: string) => {
    const s = registry.get(name)?.sink;
    return s?.type === 'counter' ? s.count : Number.NaN;
  };
  const trend = (name: string) => {
    const s = registry.get(name)?.sink;
    if (s?.type !== 'trend') throw new Error(`${name} is not a trend`);
    return s;
  };
  return { report, seen, count, trend };
}

describe('ArrivalSchedule (the open model clock)', () => {
  it('spreads iterations exactly as the rate curve says', () => {
    const times = (start: number, stages: { durationMs: number; target: number }[]) => {
      const s = new ArrivalSchedule(start, stages);
      const out: number[] = [];
      for (let t = s.peekNext(); t !== null; t = s.peekNext()) {
        out.push(t);
        s.advance();
      }
      return out;
    };
    const flat = times(10, [{ durationMs: 2_000, target: 10 }]);
    expect(flat).toHaveLength(20);
    expect(flat[1]).toBeCloseTo(100, 6);
    expect(flat[19]).toBeCloseTo(1_900, 6);
    // 0 → 100/s over 1 s is 50 iterations, denser towards the end; 100 → 0 mirrors it.
    const up = times(0, [{ durationMs: 1_000, target: 100 }]);
    expect(up).toHaveLength(50);
    expect(up[1] - up[0]).toBeGreaterThan(up[49] - up[48]);
    const down = times(100, [{ durationMs: 1_000, target: 0 }]);
    expect(down).toHaveLength(50);
    for (const seq of [flat, up, down])
      for (let i = 1; i < seq.length; i++) expect(seq[i]).toBeGreaterThanOrEqual(seq[i - 1]);
  });
});

describe('ramping-vus (closed model)', () => {
  it('follows the VU stages and interrupts iterations that outlive gracefulRampDown', async () => {
    const registry = new Registry();
    const metrics = builtinMetrics(registry);
    const client = new LoadClient(
      { baseUrl: 'http://127.0.0.1:9', connections: 1, timeoutMs: 1_000 },
      metrics,
      new Timeline(),
    );
    const checks = new Checks(metrics.checks);
    const exec = new RampingVus({
      startVUs: 0,
      stages: [
        { durationMs: 400, target: 10 },
        { durationMs: 400, target: 0 },
      ],
      gracefulRampDownMs: 100,
      gracefulStopMs: 100,
      thinkTimeMs: () => 0,
    });
    let peak = 0;
    const watch = setInterval(() => {
      peak = Math.max(peak, exec.status().active);
    }, 10);
    const started = performance.now();
    // Each iteration would take 5 s: every one must be cut at its VU's ramp-down deadline.
    await exec.run({
      iteration: (vu) => vu.sleep(5_000),
      newVu: (id) => new VirtualUser(id, client, checks, 1),
      metrics,
      stop: new AbortController().signal,
      onIterationError: (err) => {
        throw err;
      },
    });
    clearInterval(watch);
    const elapsed = performance.now() - started;
    const count = (name: string) => {
      const sink = registry.get(name)?.sink;
      return sink?.type === 'counter' ? sink.count : Number.NaN;
    };
    expect(peak).toBe(10);
    expect(exec.status()).toEqual({ active: 0, allocated: 10 });
    expect(count('iterations')).toBe(0);
    expect(count('interrupted_iterations')).toBe(10);
    expect(elapsed).toBeLessThan(1_500);
    await client.close();
  });
});

describe('ramping-arrival-rate against a target that keeps slowing down', () => {
  it('keeps its schedule, lets latency grow, and counts dropped iterations once maxVUs are busy', async () => {
    // 20 ms at the start, +200 ms per second: 8 VUs can carry 40 it/s only for the first second.
    const url = await target((ms) => 20 + ms / 5);
    const exec = new RampingArrivalRate({
      startRate: 40,
      stages: [{ durationMs: 3_000, target: 40 }],
      preAllocatedVUs: 8,
      maxVUs: 8,
      gracefulStopMs: 5_000,
    });
    const { seen, count, trend } = await drive(exec, url, 8);

    // Every scheduled iteration either ran or was dropped: 40/s × 3 s = 120.
    expect(count('iterations') + count('dropped_iterations') + count('interrupted_iterations')).toBe(120);
    expect(count('dropped_iterations')).toBeGreaterThan(20);
    // Iterations that got a VU started on time: the generator kept the clock. (The median, not
    // p99: other test files share these two cores, and a late timer is the generator's own lag,
    // which iteration_start_lag exists to expose.)
    expect(trend('iteration_start_lag').percentile(50)).toBeLessThan(20);
    // Latency grew (the target slowed down) instead of the load quietly thinning out.
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const early = median(seen.filter((s) => s.scheduledMs < 500).map((s) => s.durationMs));
    const late = median(seen.filter((s) => s.scheduledMs > 2_000).map((s) => s.durationMs));
    // (The target alone takes ≥ 420 ms from t = 2 s on; early ones waited 20–120 ms plus any lag.)
    expect(late).toBeGreaterThanOrEqual(400);
    expect(late).toBeGreaterThan(early * 2);
  });
});

describe('coordinated omission: a 500 ms stall in the middle of the run', () => {
  const stallAt = (ms: number, length: number) =>
    setTimeout(() => {
      const until = performance.now() + length;
      while (performance.now() < until) {
        /* the whole process freezes, as a GC pause or an overloaded generator would */
      }
    }, ms);

  it('shows in every iteration scheduled during it with the open model, in at most one per VU with the closed model', async () => {
    const url = await target(() => 0);
    stallAt(800, 500);
    const open = await drive(
      new RampingArrivalRate({
        startRate: 100,
        stages: [{ durationMs: 2_000, target: 100 }],
        preAllocatedVUs: 50,
        maxVUs: 50,
        gracefulStopMs: 5_000,
      }),
      url,
      50,
    );
    const slowOpen = open.seen.filter((s) => s.durationMs >= 100).length;
    // ~50 iterations were due during the stall; those due in its first 400 ms waited ≥ 100 ms.
    expect(slowOpen).toBeGreaterThanOrEqual(25);
    expect(open.trend('iteration_start_lag').hist.maxValue / 1_000).toBeGreaterThan(350);

    await new Promise((r) => server?.close(r));
    const url2 = await target(() => 0);
    stallAt(800, 500);
    const closed = await drive(
      new RampingVus({
        startVUs: 5,
        stages: [{ durationMs: 2_000, target: 5 }],
        gracefulRampDownMs: 5_000,
        gracefulStopMs: 5_000,
        thinkTimeMs: () => 10,
      }),
      url2,
      5,
    );
    const slowClosed = closed.seen.filter((s) => s.durationMs >= 100).length;
    // The closed model simply stopped sending during the stall: about one slow sample per VU (5),
    // plus whatever the other test files sharing the two cores add — so the claim is relative: far
    // fewer slow samples than the open model saw for the same stall.
    expect(closed.seen.length).toBeGreaterThan(50);
    expect(slowClosed).toBeLessThan(slowOpen / 2);
  });
});

describe('the CLI in the open model against a slow target', () => {
  it('reports dropped iterations as the target falling behind, never as capacity, and fails dropped_iterations: count==0', async () => {
    const api = await startFakeCouponApi({ delayMs: (ms) => 20 + ms / 10 });
    try {
      const run = await runDrillCli([
        'coupon-drop',
        '--target',
        api.url,
        '--admin-token',
        FAKE_ADMIN_TOKEN,
        '--executor',
        'ramping-arrival-rate',
        '--vus',
        '10',
        '--duration',
        '3s',
        '--rate',
        '60',
        '--users',
        '300',
        '--threshold',
        'dropped_iterations: count==0',
      ]);
      const s = run.summary as DrillSummary;
      expect(run.code, `${run.stdout}\n${run.stderr.slice(-2_000)}`).toBe(expectedExit(run, 99));
      expect(s.stampede.model).toBe('open');
      expect(s.stampede.executor).toMatchObject({
        executor: 'ramping-arrival-rate',
        maxVUs: 10,
        stages: [{ duration: '3s', target: 60 }],
      });
      const dropped = s.metrics.dropped_iterations.values.count;
      expect(dropped).toBeGreaterThan(0);
      expect(s.metrics.dropped_iterations.thresholds).toEqual({ 'count==0': { ok: false } });
      expect(
        s.metrics.iterations.values.count + dropped + s.metrics.interrupted_iterations.values.count,
      ).toBe(180);
      expect(s.stampede.capacityNote).toMatch(
        /dropped because all 10 VUs were busy — the target did not keep up/,
      );
      // The live progress line shows drops as they happen.
      expect(run.stderr).toMatch(/dropped [1-9]\d*/);
      expect(s.audit.verdict).toBe('PASS');
    } finally {
      await api.close();
    }
  });
});
