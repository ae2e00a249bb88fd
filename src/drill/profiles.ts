/**
 * Load profiles, after the k6 test plans they mirror. A profile is a VU curve (k6 stages):
 *   smoke  — 10 VUs for 30 s: does it work at all?
 *   load   — 0 → 100 VUs over 2 min: the expected crowd
 *   stress — 100 → 300 VUs over 5 min: beyond the expected crowd
 *   spike  — 0 → 500 VUs in 10 s, hold 30 s, back to 0 in 10 s: the drop opening
 *   concert — 0 → 50 → 150 → 50 → 0 VUs, four 15 s stages: a ticket sale's crowd coming and going
 *            (the concert scenario's default, as its k6 script's `options.stages`)
 * Adjustments, in this order: --vus N sets the peak (shape kept), --duration D stretches the
 * stages to D in total (shape kept), --scale F multiplies every VU target and shortens nothing.
 * Without --profile, --vus/--duration describe a constant load (k6's `--vus 10 --duration 30s`,
 * which overrides a script's stages); with none of the three the run follows the scenario's
 * default profile (smoke, unless the scenario has its own), --scale applied.
 *
 * For the open model (ramping-arrival-rate) the same curve is the arrival rate: the peak is
 * --rate iterations/s (default: one per peak VU per second) and maxVUs defaults to the peak VUs.
 */
import { DrillUsageError } from './errors.js';
import { peak, type Stage, totalDurationMs } from './stages.js';

export const PROFILE_NAMES = ['smoke', 'load', 'stress', 'spike', 'concert'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  name: ProfileName | 'custom';
  description: string;
  startVUs: number;
  stages: Stage[];
}

const S = 1_000;
export const PROFILES: Record<ProfileName, Profile> = {
  smoke: {
    name: 'smoke',
    description: '10 VUs for 30 s',
    startVUs: 10,
    stages: [{ durationMs: 30 * S, target: 10 }],
  },
  load: {
    name: 'load',
    description: '0 → 100 VUs over 2 min',
    startVUs: 0,
    stages: [{ durationMs: 120 * S, target: 100 }],
  },
  stress: {
    name: 'stress',
    description: '100 → 300 VUs over 5 min',
    startVUs: 100,
    stages: [{ durationMs: 300 * S, target: 300 }],
  },
  spike: {
    name: 'spike',
    description: '0 → 500 VUs in 10 s, hold 30 s, down to 0 in 10 s',
    startVUs: 0,
    stages: [
      { durationMs: 10 * S, target: 500 },
      { durationMs: 30 * S, target: 500 },
      { durationMs: 10 * S, target: 0 },
    ],
  },
  concert: {
    name: 'concert',
    description: '0 → 50 VUs in 15 s, up to 150 in 15 s, down to 50 in 15 s, down to 0 in 15 s',
    startVUs: 0,
    stages: [
      { durationMs: 15 * S, target: 50 },
      { durationMs: 15 * S, target: 150 },
      { durationMs: 15 * S, target: 50 },
      { durationMs: 15 * S, target: 0 },
    ],
  },
};

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}

function seconds(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest ? `${m} min ${rest} s` : `${m} min`;
}

/** A VU curve in words, in the profiles' style: `0 → 200 VUs in 4 s, hold 12 s, down to 0 in 4 s`. */
export function describeCurve(startVUs: number, stages: readonly Stage[]): string {
  const parts: string[] = [];
  let at = startVUs;
  for (const st of stages) {
    const d = seconds(st.durationMs);
    if (st.target === at) parts.push(parts.length ? `hold ${d}` : `${at} VUs for ${d}`);
    else if (st.target > at)
      parts.push(parts.length ? `up to ${st.target} in ${d}` : `${at} → ${st.target} VUs in ${d}`);
    else parts.push(parts.length ? `down to ${st.target} in ${d}` : `${at} → ${st.target} VUs in ${d}`);
    at = st.target;
  }
  return parts.join(', ');
}

export interface ProfileAdjustments {
  profile?: ProfileName;
  /** Followed when neither --profile nor --vus/--duration is given (default smoke). */
  defaultProfile?: ProfileName;
  vus?: number;
  durationMs?: number;
  scale: number;
}

/** The VU curve a run follows, after --vus / --duration / --scale. */
export function resolveProfile(a: ProfileAdjustments): Profile {
  // The named curve this run adjusts, if any: --profile, else the default when nothing says otherwise.
  const named =
    a.profile ??
    (a.vus === undefined && a.durationMs === undefined ? (a.defaultProfile ?? 'smoke') : undefined);
  let p: Profile;
  if (named) {
    p = structuredClone(PROFILES[named]);
  } else {
    const vus = a.vus ?? 10;
    const durationMs = a.durationMs ?? 30 * S;
    p = {
      name: 'custom',
      description: `${vus} VUs for ${durationMs / S} s`,
      startVUs: vus,
      stages: [{ durationMs, target: vus }],
    };
  }
  if (named && a.vus !== undefined) {
    const f = a.vus / peak(p.startVUs, p.stages);
    p.startVUs = Math.round(p.startVUs * f);
    for (const s of p.stages) s.target = Math.round(s.target * f);
  }
  if (named && a.durationMs !== undefined) {
    const f = a.durationMs / totalDurationMs(p.stages);
    for (const s of p.stages) s.durationMs = Math.max(1, Math.round(s.durationMs * f));
  }
  if (a.scale !== 1) {
    const up = (n: number) => (n === 0 ? 0 : Math.max(1, Math.round(n * a.scale)));
    p.startVUs = up(p.startVUs);
    for (const s of p.stages) s.target = up(s.target);
  }
  // A named profile's words describe its own numbers; adjusted, it is described as it now runs.
  if (named && (a.vus !== undefined || a.durationMs !== undefined || a.scale !== 1)) {
    p.description = describeCurve(p.startVUs, p.stages);
  }
  if (peak(p.startVUs, p.stages) < 1) throw new DrillUsageError('the profile must reach at least 1 VU');
  if (totalDurationMs(p.stages) < 1) throw new DrillUsageError('the profile must last longer than 0 s');
  return p;
}

export function peakVUs(p: Profile): number {
  return peak(p.startVUs, p.stages);
}
