/**
 * The live progress line, once per second on stderr: elapsed, VUs, req/s, p95 and errors of the
 * last second, and the scenario's business counters so far. On a terminal the line is rewritten
 * in place; otherwise (CI logs, pipes) one line per second is appended.
 */
import type { Sample } from './timeline.js';

export interface ProgressLabels {
  business: readonly { metric: string; label: string }[];
  open: boolean;
}

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`;
}

export function progressLine(s: Sample, labels: ProgressLabels, errorsSoFar: number): string {
  const parts = [
    `[${String(Math.round(s.t)).padStart(4)}s]`,
    `vus ${s.vus}/${s.vusMax}`,
    `req/s ${Math.round(s.rps)}`,
    `p95 ${ms(s.p95)}`,
    `errors ${errorsSoFar}`,
  ];
  for (const b of labels.business) parts.push(`${b.label} ${s.counters[b.metric] ?? 0}`);
  if (labels.open) parts.push(`dropped ${s.counters.dropped_iterations ?? 0}`);
  return parts.join('  ');
}

export class Progress {
  private lastLength = 0;
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  show(line: string): void {
    if (!this.enabled) return;
    if (this.out.isTTY) {
      this.out.write(`\r${line.padEnd(this.lastLength)}`);
      this.lastLength = line.length;
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Ends an in-place line so the next output starts on a fresh line. */
  done(): void {
    if (this.enabled && this.out.isTTY && this.lastLength) this.out.write('\n');
    this.lastLength = 0;
  }
}
