/**
 * The three kinds of alert rules, fed synthetic snapshots one second at a time: a threshold fires
 * only after its duration and resolves when the metric is back; a burn-rate rule fires on an error
 * burst and not on a single error; an anomaly rule fires on a step change and stays quiet on
 * steady noise and at low traffic.
 */
import { describe, expect, it } from 'vitest';
import {
  type AnomalyRule,
  type BurnRateRule,
  evaluator,
  type Rule,
  type ThresholdRule,
} from '../../src/modules/live/rules.js';
import type { Snapshot } from '../../src/modules/live/snapshot.js';

const OPTS = { windowScale: 60, minRps: 5 };

function snap(http: Partial<Snapshot['http']>): Snapshot {
  return {
    at: new Date(0).toISOString(),
    seconds: 1,
    processes: 1,
    http: { rps: 100, p50: 5, p95: 20, p99: 40, mean: 8, errorRate: 0, statuses: {}, routes: [], ...http },
  } as unknown as Snapshot;
}

/** The verdicts of `rule` over `series` (one snapshot a second). */
function run(rule: Rule, series: Snapshot[]) {
  const e = evaluator(rule, OPTS);
  return series.map((s) => e.observe(s).state);
}

const firstFiring = (states: string[]) => states.indexOf('firing');

describe('alert rules', () => {
  it('threshold: fires once the breach lasted forSeconds, clears when the metric is back', () => {
    const rule: ThresholdRule = {
      id: 'p95',
      kind: 'threshold',
      metric: 'http.p95',
      op: '>',
      value: 200,
      forSeconds: 5,
      severity: 'page',
    };
    const series = [
      ...Array.from({ length: 10 }, () => snap({ p95: 50 })),
      ...Array.from({ length: 8 }, () => snap({ p95: 450 })), // the injected latency rise
      ...Array.from({ length: 5 }, () => snap({ p95: 60 })),
    ];
    const states = run(rule, series);
    expect(states.slice(4, 10).every((s) => s === 'clear')).toBe(true); // 5 fine seconds make it clear
    expect(states.slice(10, 14)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(firstFiring(states)).toBe(14); // the 5th second over 200 ms
    expect(states.slice(14, 18).every((s) => s === 'firing')).toBe(true);
    // Back under: it resolves after as many fine seconds, so one good second does not flap it.
    expect(states.slice(18, 22)).toEqual(['pending', 'pending', 'pending', 'pending']);
    expect(states[22]).toBe('clear');
    const dip = run(rule, [...series.slice(10, 18), snap({ p95: 60 }), snap({ p95: 450 })]);
    expect(dip.slice(8)).not.toContain('clear'); // the alert stays open through the dip
    // A breach shorter than forSeconds never fires; a second without data is no breach.
    expect(
      run(rule, [
        ...Array(4).fill(snap({ p95: 900 })),
        snap({ p95: null }),
        ...Array(4).fill(snap({ p95: 900 })),
      ]),
    ).not.toContain('firing');
  });

  it('burn-rate: an error burst fires the fast pair; a single error does not', () => {
    const rule: BurnRateRule = {
      id: 'burn',
      kind: 'burn-rate',
      metric: 'availability',
      value: 0.999,
      severity: 'page',
    };
    // Windows ÷ 60: 60 s and 5 s at 14.4×, 360 s and 30 s at 6×.
    const calm = Array.from({ length: 120 }, () => snap({ rps: 200, errorRate: 0 }));
    const single = snap({ rps: 200, errorRate: 1 / 200 });
    expect(run(rule, [...calm, single, ...calm.slice(0, 30)])).not.toContain('firing');
    const burst = Array.from({ length: 10 }, () => snap({ rps: 200, errorRate: 0.2 }));
    const states = run(rule, [...calm, ...burst]);
    const at = firstFiring(states);
    expect(at).toBeGreaterThanOrEqual(120);
    expect(at).toBeLessThan(130);
    // Once the errors stop it clears when the burst has left both short windows (5 s, then 30 s).
    const quietAgain = (n: number) => Array.from({ length: n }, () => snap({ rps: 200, errorRate: 0 }));
    const after = run(rule, [...calm, ...burst, ...quietAgain(40)]);
    expect(after[130 + 10]).toBe('firing'); // 10 s on: the 6× pair's 30 s window still holds it
    expect(after[after.length - 1]).toBe('clear');
  });

  it('anomaly: fires on a step change, stays quiet on steady noise and at low traffic', () => {
    const rule: AnomalyRule = {
      id: 'p99',
      kind: 'anomaly',
      metric: 'http.p99',
      value: 4,
      forSeconds: 3,
      severity: 'ticket',
    };
    let seed = 7;
    const noise = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647 - 0.5;
    };
    const steady = Array.from({ length: 600 }, () => snap({ p99: 40 + 8 * noise() }));
    expect(run(rule, steady)).not.toContain('firing');
    const step = [
      ...steady.slice(0, 200),
      ...Array.from({ length: 20 }, () => snap({ p99: 160 + 8 * noise() })),
    ];
    const states = run(rule, step);
    expect(firstFiring(states)).toBeGreaterThanOrEqual(200);
    expect(firstFiring(states)).toBeLessThan(206);
    // The same step at 2 requests a second (a quiet night) is not judged at all.
    const quiet = step.map((s) => snap({ ...s.http, rps: 2 }));
    expect(run(rule, quiet)).not.toContain('firing');
    // Request rate: a crash to zero traffic is anomalous too (two-sided).
    const rps: AnomalyRule = { ...rule, id: 'rps', metric: 'http.rps' };
    const drop = [
      ...Array.from({ length: 120 }, () => snap({ rps: 500 + 20 * noise() })),
      ...Array.from({ length: 10 }, () => snap({ rps: 100 })),
    ];
    expect(firstFiring(run(rps, drop))).toBeGreaterThanOrEqual(120);
  });
});
