/**
 * Options → executor. The profile's VU curve drives ramping-vus directly; for
 * ramping-arrival-rate the same curve is rescaled so its peak is --rate iterations/s.
 */
import type { DrillOptions, ThinkTime } from '../options.js';
import { peakVUs } from '../profiles.js';
import { RampingArrivalRate } from './ramping-arrival-rate.js';
import { RampingVus } from './ramping-vus.js';
import type { Executor } from './types.js';

export function buildExecutor(opts: DrillOptions, thinkTime: ThinkTime): Executor {
  const peak = peakVUs(opts.profile);
  if (opts.executor === 'ramping-vus') {
    const { minMs, maxMs } = thinkTime;
    return new RampingVus({
      startVUs: opts.profile.startVUs,
      stages: opts.profile.stages,
      gracefulRampDownMs: opts.gracefulStopMs,
      gracefulStopMs: opts.gracefulStopMs,
      thinkTimeMs: (rng) => minMs + (maxMs - minMs) * rng(),
    });
  }
  const rate = opts.rate ?? peak;
  const f = rate / peak;
  const maxVUs = opts.maxVUs ?? peak;
  return new RampingArrivalRate({
    startRate: opts.profile.startVUs * f,
    stages: opts.profile.stages.map((s) => ({ durationMs: s.durationMs, target: s.target * f })),
    maxVUs,
    preAllocatedVUs: Math.min(maxVUs, opts.preAllocatedVUs ?? maxVUs),
    gracefulStopMs: opts.gracefulStopMs,
  });
}

/** VUs the run may use at once (sizes the connection pool: one connection per VU). */
export function maxConcurrentVUs(opts: DrillOptions): number {
  return opts.executor === 'ramping-vus' ? peakVUs(opts.profile) : (opts.maxVUs ?? peakVUs(opts.profile));
}
