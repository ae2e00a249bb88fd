/**
 * k6 stages: a piecewise-linear curve, `start` at t=0, then each stage moves linearly to its
 * `target` over its duration. For ramping-vus the curve is the number of VUs; for
 * ramping-arrival-rate it is iterations per second.
 */

export interface Stage {
  durationMs: number;
  target: number;
}

export function totalDurationMs(stages: readonly Stage[]): number {
  return stages.reduce((sum, s) => sum + s.durationMs, 0);
}

/** The curve's value at `tMs` (clamped to the last target after the end). */
export function valueAt(start: number, stages: readonly Stage[], tMs: number): number {
  let from = start;
  let t = Math.max(0, tMs);
  for (const s of stages) {
    if (t < s.durationMs) return from + ((s.target - from) * t) / s.durationMs;
    t -= s.durationMs;
    from = s.target;
  }
  return from;
}

/** The curve's maximum over [t0Ms, t1Ms] (at an end or at a stage boundary: it is piecewise linear). */
export function maxOver(start: number, stages: readonly Stage[], t0Ms: number, t1Ms: number): number {
  let max = Math.max(valueAt(start, stages, t0Ms), valueAt(start, stages, t1Ms));
  let boundary = 0;
  for (const s of stages) {
    boundary += s.durationMs;
    if (boundary > t0Ms && boundary <= t1Ms) max = Math.max(max, s.target);
  }
  return max;
}

export function peak(start: number, stages: readonly Stage[]): number {
  return stages.reduce((max, s) => Math.max(max, s.target), start);
}

/**
 * The open model's clock: iteration i (0-based) is due when the integral of the rate curve
 * reaches i, so iterations are spread exactly as the rate says, independent of how fast the
 * target answers. Rates are iterations per second; times are ms from the scenario start.
 * Within a stage the rate is r(τ) = r0 + (r1 − r0)·τ/D, so n(τ) = r0·τ + (r1 − r0)·τ²/(2D), and
 * τ(n) = 2n / (r0 + √(r0² + 2(r1 − r0)n/D)) — stable for flat, rising and falling stages alike.
 */
export class ArrivalSchedule {
  private stageIndex = 0;
  private stageStartMs = 0;
  private stageFromRate: number;
  /** Iterations due before the current stage began (fractional). */
  private countAtStageStart = 0;
  private next = 0;
  readonly totalMs: number;

  constructor(
    startRate: number,
    private readonly stages: readonly Stage[],
  ) {
    this.stageFromRate = startRate;
    this.totalMs = totalDurationMs(stages);
  }

  /** Scheduled time (ms) of the next iteration, or null when the schedule has ended. */
  peekNext(): number | null {
    while (this.stageIndex < this.stages.length) {
      const s = this.stages[this.stageIndex];
      const r0 = this.stageFromRate / 1_000; // per ms
      const r1 = s.target / 1_000;
      const inStage = ((r0 + r1) / 2) * s.durationMs;
      const n = this.next - this.countAtStageStart;
      if (n < inStage - 1e-9) {
        const disc = r0 * r0 + (2 * (r1 - r0) * n) / s.durationMs;
        const tau = n === 0 ? 0 : (2 * n) / (r0 + Math.sqrt(Math.max(0, disc)));
        return this.stageStartMs + Math.min(tau, s.durationMs);
      }
      this.countAtStageStart += inStage;
      this.stageStartMs += s.durationMs;
      this.stageFromRate = s.target;
      this.stageIndex++;
    }
    return null;
  }

  /** Consumes the iteration returned by peekNext(). */
  advance(): void {
    this.next++;
  }

  /** Iterations scheduled (consumed) so far. */
  get scheduled(): number {
    return this.next;
  }
}
