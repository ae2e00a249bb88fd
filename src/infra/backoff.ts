/** Delay before the next attempt after `attempts` failed ones (attempts ≥ 1): base · 2^(attempts−1), capped, ±20 % jitter. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.max(1, Math.round(raw * (0.8 + 0.4 * random())));
}
