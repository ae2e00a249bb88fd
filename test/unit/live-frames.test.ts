/**
 * Frames are mergeable: the frames of several processes and seconds, merged, give the same totals
 * and the same percentiles as one histogram of every sample would (never an average of
 * percentiles), and each process's latest gauges.
 */
import { build } from 'hdr-histogram-js';
import { describe, expect, it } from 'vitest';
import { FrameRecorder, mergeFrames } from '../../src/infra/live/frames.js';

function lognormalMs(): number {
  const u = 1 - Math.random();
  const v = Math.random();
  return Math.exp(1 + 0.8 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
}

describe('live frames', () => {
  it('merge two processes × three seconds into the totals and percentiles of all samples', () => {
    const all = build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 600_000_000,
      numberOfSignificantValueDigits: 2,
    });
    const frames = [];
    let requests = 0;
    let errors = 0;
    for (const proc of ['a', 'b']) {
      const rec = new FrameRecorder();
      for (let second = 0; second < 3; second++) {
        // Process b is slower and busier: averaging the two processes' p99 would be wrong.
        const n = proc === 'a' ? 500 : 2_000;
        for (let i = 0; i < n; i++) {
          const ms = lognormalMs() * (proc === 'b' ? 4 : 1);
          const status = Math.random() < 0.02 ? 503 : 201;
          rec.request(i % 2 ? '/api/v1/orders' : '/api/v1/coupons/:couponId/issue', status, ms / 1000);
          all.recordValue(Math.max(1, Math.round(ms * 1000)));
          requests += 1;
          if (status >= 500) errors += 1;
        }
        rec.request('/api/v1/admin/live', 200, null); // a stream: counted, not timed
        requests += 1;
        frames.push(
          rec.cut(
            1_000 * second,
            proc,
            { 'coupons.1.issued': 10 },
            {
              sum: { 'pool.total': proc === 'a' ? 3 : 5 },
              max: { 'eventLoop.p99Ms': second + (proc === 'a' ? 10 : 20) },
            },
          ),
        );
      }
    }
    const m = mergeFrames(frames, 0, 3);
    expect(m.processes).toBe(2);
    expect(m.requests).toBe(requests);
    expect(m.rps).toBeCloseTo(requests / 3);
    expect(m.errorRate).toBeCloseTo(errors / requests);
    expect(m.statuses['5xx']).toBe(errors);
    for (const p of [50, 95, 99] as const) {
      const want = all.getValueAtPercentile(p) / 1000;
      expect(m[`p${p}`]).toBeCloseTo(want, 1);
    }
    expect(m.rates['coupons.1.issued']).toBeCloseTo(20); // 10 a second in each of two processes
    expect(m.gauges['pool.total']).toBe(8); // each process's last second, summed
    expect(m.gauges['eventLoop.p99Ms']).toBe(22); // the worst process's last second
    expect(m.routes.map((r) => r.route)).toContain('/api/v1/admin/live');
  });

  it('starts every second afresh, and an idle second has no latency', () => {
    const rec = new FrameRecorder();
    rec.request('/x', 200, 0.002);
    expect(rec.cut(0, 'p', {}, { sum: {}, max: {} }).requests).toBe(1);
    const idle = rec.cut(1_000, 'p', {}, { sum: {}, max: {} });
    expect(idle).toMatchObject({ requests: 0, latency: '', routes: {}, statuses: {} });
    const m = mergeFrames([idle], 1_000, 1);
    expect([m.p50, m.p99, m.errorRate, m.rps]).toEqual([null, null, 0, 0]);
  });
});
