/**
 * Colours of HTTP status codes in the report, by class: greens for 2xx, blues for 3xx, ambers and
 * oranges for 4xx (business refusals: sold out, out of stock...), reds for 5xx, near-black for 0
 * (no response). The common codes have fixed shades chosen so that two codes of one class are told
 * apart at a glance (200 dark green, 201 light green; 409 amber, 410 dark amber...); other codes
 * take the next unused shade of their class. Scenarios colour their business counters with the
 * shade of the answer that carries them.
 */

export const STATUS_COLOR: Readonly<Record<string, string>> = {
  '0': '#111827',
  '200': '#15803d',
  '201': '#4ade80',
  '204': '#065f46',
  '301': '#2563eb',
  '302': '#93c5fd',
  '304': '#1e3a8a',
  '400': '#ca8a04',
  '401': '#ea580c',
  '402': '#fde047',
  '403': '#854d0e',
  '404': '#78350f',
  '409': '#f59e0b',
  '410': '#b45309',
  '429': '#fb923c',
  '500': '#dc2626',
  '502': '#991b1b',
  '503': '#f87171',
  '504': '#7f1d1d',
};

/** Spare shades per class, for codes without a fixed one. */
const SPARE: Readonly<Record<string, readonly string[]>> = {
  '2': ['#a3e635', '#166534', '#86efac'],
  '3': ['#60a5fa', '#1d4ed8'],
  '4': ['#fcd34d', '#c2410c', '#fdba74', '#713f12'],
  '5': ['#b91c1c', '#fca5a5', '#450a0a'],
};
const OTHER = ['#64748b', '#94a3b8', '#334155'];

/** A colour for each code present, fixed shades first, the others from their class's spares. */
export function statusColors(codes: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const used = new Set<string>();
  for (const c of codes) {
    const fixed = STATUS_COLOR[c];
    if (fixed) {
      out[c] = fixed;
      used.add(fixed);
    }
  }
  let other = 0;
  for (const c of [...codes].sort()) {
    if (out[c]) continue;
    const spare = SPARE[c[0]]?.find((s) => !used.has(s));
    out[c] = spare ?? OTHER[other++ % OTHER.length];
    used.add(out[c]);
  }
  return out;
}
