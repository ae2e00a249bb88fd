/**
 * k6 threshold syntax: what parses, what is refused (and why), how it evaluates, and what the CLI
 * does with it — exit 2 before anything starts for a bad expression, exit 99 when one fails.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DrillUsageError } from '../../src/drill/errors.js';
import { Registry } from '../../src/drill/metrics.js';
import { bindThresholds, evaluateThresholds, parseThreshold } from '../../src/drill/thresholds.js';
import { FAKE_ADMIN_TOKEN, type FakeApi, startFakeCouponApi } from './support/fake-coupon-api.js';
import { expectedExit, removeOutDirs, runDrillCli } from './support/run-cli.js';

afterAll(removeOutDirs);

describe('parseThreshold', () => {
  it.each([
    ['http_req_duration: p(95)<200', 'http_req_duration', { kind: 'percentile', p: 95 }, '<', 200],
    ['http_req_duration:p(99.9) <= 1500', 'http_req_duration', { kind: 'percentile', p: 99.9 }, '<=', 1500],
    ['http_req_failed: rate<0.01', 'http_req_failed', { kind: 'rate' }, '<', 0.01],
    ['checks: rate==1', 'checks', { kind: 'rate' }, '==', 1],
    ['dropped_iterations: count==0', 'dropped_iterations', { kind: 'count' }, '==', 0],
    ['iteration_duration: avg < 100', 'iteration_duration', { kind: 'avg' }, '<', 100],
    ['http_req_duration: med>=0.5', 'http_req_duration', { kind: 'med' }, '>=', 0.5],
    ['vus_max: value>0', 'vus_max', { kind: 'value' }, '>', 0],
    ['http_reqs: count!=7', 'http_reqs', { kind: 'count' }, '!=', 7],
    ['http_reqs: rate===3', 'http_reqs', { kind: 'rate' }, '===', 3],
  ])('accepts %s', (line, metric, aggregation, op, value) => {
    const t = parseThreshold(line);
    expect(t).toMatchObject({ metric, aggregation, op, value, filter: null });
  });

  it('reads a tag filter and keeps k6’s expression text as the key', () => {
    const t = parseThreshold('http_req_duration{name:issue, status:201}: p(95) < 200');
    expect(t.filter).toEqual({ name: 'issue', status: '201' });
    expect(t.source).toBe('p(95)<200');
  });

  it.each([
    ['http_req_duration p(95)<200', /must look like 'metric: expression'/],
    ['http_req_duration: p95<200', /is not an expression/],
    ['http_req_duration: p(95)<', /is not an expression/],
    ['http_req_duration: p(101)<5', /outside 0\.\.100/],
    ['http_req_failed: rate<abc', /is not an expression/],
    ['http_req_failed: rate=<0.1', /is not an expression/],
    ['http_req_failed: rate<0.1 && count<3', /is not an expression/],
    ['http_req_duration{}: p(95)<1', /empty tag filter/],
    ['http_req_duration{name}: p(95)<1', /tag filter must be/],
    [': rate<1', /must look like/],
  ])('refuses %s', (line, why) => {
    expect(() => parseThreshold(line)).toThrow(DrillUsageError);
    expect(() => parseThreshold(line)).toThrow(why);
  });
});

describe('bindThresholds and evaluateThresholds', () => {
  function registry() {
    const r = new Registry();
    const d = r.define('http_req_duration', 'trend', 'time');
    const f = r.define('http_req_failed', 'rate');
    const c = r.define('dropped_iterations', 'counter');
    for (let i = 1; i <= 100; i++) {
      d.add(i, { name: i <= 50 ? 'fast' : 'slow' });
      f.add(i > 98);
    }
    c.add(3);
    return r;
  }

  it('refuses unknown metrics and aggregations that do not fit the metric type, as k6 does', () => {
    const r = registry();
    expect(() => bindThresholds([parseThreshold('nope: count<1')], r)).toThrow(/unknown metric "nope"/);
    expect(() => bindThresholds([parseThreshold('http_req_failed: p(95)<1')], r)).toThrow(
      /is a rate; use rate/,
    );
    expect(() => bindThresholds([parseThreshold('http_req_duration: rate<1')], r)).toThrow(
      /is a trend; use avg, min, med, max, p\(N\)/,
    );
    expect(() => bindThresholds([parseThreshold('dropped_iterations: value<1')], r)).toThrow(
      /is a counter; use count, rate/,
    );
  });

  it('evaluates percentiles, rates, counts and tag submetrics on the recorded samples', () => {
    const r = new Registry();
    const d = r.define('http_req_duration', 'trend', 'time');
    const f = r.define('http_req_failed', 'rate');
    const c = r.define('dropped_iterations', 'counter');
    const bound = bindThresholds(
      [
        'http_req_duration: p(95)<96',
        'http_req_duration: p(95)<95',
        'http_req_duration{name:fast}: max<=50.1',
        'http_req_failed: rate<0.05',
        'http_req_failed: rate==0',
        'dropped_iterations: count==0',
      ].map(parseThreshold),
      r,
    );
    // Samples recorded after binding reach the submetric too (it is registered by the binding).
    for (let i = 1; i <= 100; i++) {
      d.add(i, { name: i <= 50 ? 'fast' : 'slow' });
      f.add(i > 98);
    }
    c.add(3);
    const results = evaluateThresholds(bound, 10);
    expect(results.map((x) => [x.metric, x.source, x.ok])).toEqual([
      ['http_req_duration', 'p(95)<96', true],
      ['http_req_duration', 'p(95)<95', false],
      ['http_req_duration{name:fast}', 'max<=50.1', true],
      ['http_req_failed', 'rate<0.05', true],
      ['http_req_failed', 'rate==0', false],
      ['dropped_iterations', 'count==0', false],
    ]);
    expect(results[0].observed).toBeCloseTo(95, 0);
    expect(results[4].observed).toBeCloseTo(0.02, 6);
  });
});

describe('the CLI and thresholds', () => {
  let api: FakeApi;
  beforeAll(async () => {
    api = await startFakeCouponApi();
  });
  afterAll(() => api.close());

  it('exits 2 on an invalid expression, before starting anything', async () => {
    const run = await runDrillCli([
      'coupon-drop',
      '--threshold',
      'http_req_duration: p95<200',
      '--vus',
      '1',
      '--duration',
      '1s',
    ]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/is not an expression like p\(95\)<200/);
    expect(run.summary).toBeNull();
    expect(run.stderr).not.toMatch(/starting an embedded stampede server/);
  });

  it('exits 2 on a threshold for a metric the scenario does not record', async () => {
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      api.url,
      '--admin-token',
      FAKE_ADMIN_TOKEN,
      '--threshold',
      'orders_paid: count>0',
    ]);
    expect(run.code, run.stderr).toBe(2);
    expect(run.stderr).toMatch(/unknown metric "orders_paid"/);
  });

  it('exits 99 when a threshold fails although the audit passes, and reports it in k6’s shape', async () => {
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      api.url,
      '--admin-token',
      FAKE_ADMIN_TOKEN,
      '--vus',
      '10',
      '--duration',
      '1s',
      '--think-time',
      '20ms',
      '--quiet',
      '--threshold',
      'http_req_duration: p(99)<0.001',
      '--threshold',
      'http_req_failed: rate<0.01',
    ]);
    expect(run.code, run.stderr).toBe(expectedExit(run, 99));
    const s = run.summary;
    expect(s?.audit.verdict).toBe('PASS');
    expect(s?.metrics.http_req_duration.thresholds).toEqual({ 'p(99)<0.001': { ok: false } });
    expect(s?.metrics.http_req_failed.thresholds).toEqual({ 'rate<0.01': { ok: true } });
    expect(s?.stampede.thresholdsOk).toBe(false);
    expect(run.stdout).toMatch(/✗ http_req_duration/);
    // A closed-model run never passes its throughput off as capacity.
    expect(s?.stampede.model).toBe('closed');
    expect(s?.stampede.capacityNote).toMatch(/NOT the server's capacity/);
  });
});
