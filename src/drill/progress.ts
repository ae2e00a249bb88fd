/**
 * Live progress on stderr while the load runs, in one of two modes:
 *   terminal (the stream is a TTY)  one line, redrawn in place about once per second (`\r` + clear
 *                                   line): bar, percent, elapsed/planned, VUs, req/s and p95 of
 *                                   the last second, errors and business counters so far; never
 *                                   wider than the terminal, so the redraw cannot leave wrapped
 *                                   debris
 *   plain (CI logs, pipes, files)   one line every plainIntervalSec(planned) seconds (10 % of the
 *                                   run, within 5..30 s), req/s and p95 over the time since the
 *                                   previous line, and a last line at the end
 * Whether the stream is a terminal is read from `isTTY` (stderr's own by default) and can be
 * forced, so both modes can be tested with an in-memory stream.
 */

/** What progress writes to: process.stderr, or anything with write() (tests). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width; absent for pipes and files. */
  columns?: number;
}

export interface ProgressFigures {
  /** Seconds since the load started. */
  t: number;
  /** Active VUs (busy VUs in the open model) and allocated VUs. */
  vus: number;
  vusMax: number;
  /** Requests per second and http_req_duration p95 (ms) over the span the line covers. */
  rps: number;
  p95: number;
  /** http_req_failed so far. */
  errors: number;
  /** Cumulative counters so far (business outcomes, dropped_iterations). */
  counters: Readonly<Record<string, number>>;
}

export interface ProgressOptions {
  /** false (--quiet): write nothing at all. */
  enabled: boolean;
  /** Planned duration of the load without graceful stop, in seconds (for the bar and percent). */
  plannedSec: number;
  /** Business counters shown after the errors, in this order. */
  business: readonly { metric: string; label: string }[];
  /** Open model: also show dropped iterations. */
  open: boolean;
  /** Terminal mode; default: the stream's isTTY. */
  isTTY?: boolean;
  /** Terminal width; default: the stream's columns, else (unknown or 0) 100. */
  columns?: number;
  /** Plain mode: seconds between lines; default plainIntervalSec(plannedSec). */
  everySec?: number;
}

/** Plain mode's cadence: 10 % of the planned run, at least 5 s and at most 30 s apart. */
export function plainIntervalSec(plannedSec: number): number {
  return Math.min(30, Math.max(5, Math.round(plannedSec / 10)));
}

function ms(v: number): string {
  return v >= 100 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`;
}

/** 7s, 50s, 1m05s, 12m00s (whole seconds, rounded down like the percent). */
export function clock(sec: number): string {
  const s = Math.max(0, Math.floor(sec + 1e-6));
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function percent(f: ProgressFigures, plannedSec: number): number {
  return plannedSec > 0 ? Math.min(100, Math.floor((f.t / plannedSec) * 100)) : 100;
}

/** The figures after the time: VUs, req/s, p95, errors, business counters, drops. */
function figuresText(f: ProgressFigures, o: ProgressOptions): string {
  const parts = [
    `vus ${f.vus}/${f.vusMax}`,
    `req/s ${Math.round(f.rps)}`,
    `p95 ${ms(f.p95)}`,
    `errors ${f.errors}`,
  ];
  for (const b of o.business) parts.push(`${b.label} ${f.counters[b.metric] ?? 0}`);
  if (o.open) parts.push(`dropped ${f.counters.dropped_iterations ?? 0}`);
  return parts.join('  ');
}

function phase(f: ProgressFigures, plannedSec: number): string {
  return f.t > plannedSec + 0.5 ? '  (graceful stop)' : '';
}

/** k6-style bar of `width` characters: [=====>------]. */
export function bar(fraction: number, width: number): string {
  const inner = Math.max(1, width - 2);
  const done = Math.round(Math.min(1, Math.max(0, fraction)) * inner);
  const body = done >= inner ? '='.repeat(inner) : `${'='.repeat(done)}>${'-'.repeat(inner - done - 1)}`;
  return `[${body}]`;
}

/** Widest progress bar, and the narrowest worth drawing. */
export const BAR_MAX = 30;
const BAR_MIN = 10;

/**
 * The terminal line: `[====>----]  42%  21s/50s  vus 300/300  req/s 540  p95 12.4ms  errors 0 ...`,
 * at most `columns - 1` characters. The bar is `barWidth` wide at most and shrinks when the
 * figures need the room (below BAR_MIN it is left out); if the line is still too wide its tail is
 * cut with "…". Returns the line and the bar width used (0: none).
 */
export function ttyLine(
  f: ProgressFigures,
  o: ProgressOptions,
  columns: number,
  barWidth = BAR_MAX,
): { line: string; barWidth: number } {
  const max = Math.max(20, columns - 1);
  const pct = percent(f, o.plannedSec);
  const rest = `${String(pct).padStart(3)}%  ${clock(f.t)}/${clock(o.plannedSec)}  ${figuresText(f, o)}${phase(f, o.plannedSec)}`;
  const width = Math.min(barWidth, max - rest.length - 2);
  const used = width >= BAR_MIN ? width : 0;
  const line = used ? `${bar(pct / 100, used)}  ${rest}` : rest;
  return { line: line.length <= max ? line : `${line.slice(0, max - 1)}…`, barWidth: used };
}

/** The plain line: `[ 21s/50s  42%]  vus 300/300  req/s 540  p95 12.4ms  errors 0 ...`. */
export function plainLine(f: ProgressFigures, o: ProgressOptions): string {
  const time = `${clock(f.t)}/${clock(o.plannedSec)}`;
  return `[${time.padStart(11)} ${String(percent(f, o.plannedSec)).padStart(3)}%]  ${figuresText(f, o)}${phase(f, o.plannedSec)}`;
}

const CLEAR_LINE = '\r\x1b[2K';

export class Progress {
  readonly tty: boolean;
  private readonly columns: number;
  private readonly everySec: number;
  /** Terminal mode: the line currently drawn (redrawn after a message). */
  private drawn = '';
  /** Terminal mode: the bar only ever narrows, so it does not jitter as the figures grow. */
  private barWidth = BAR_MAX;
  /** Plain mode: `t` of the last line written. */
  private lastPlainT = 0;

  constructor(
    private readonly out: ProgressStream,
    private readonly opts: ProgressOptions,
  ) {
    this.tty = opts.isTTY ?? Boolean(out.isTTY);
    // A pseudo-terminal without a size (script(1) with no terminal around it) reports 0 columns.
    const width = opts.columns ?? out.columns;
    this.columns = width && width > 0 ? width : 100;
    this.everySec = opts.everySec ?? plainIntervalSec(opts.plannedSec);
  }

  /** How often plain lines are written (seconds); terminal mode redraws on every update. */
  get plainEverySec(): number {
    return this.everySec;
  }

  /**
   * About once per second. `last` holds the last second's figures (terminal line); `period`
   * is called only when a plain line is due and gives the figures since the previous one.
   */
  update(last: ProgressFigures, period: () => ProgressFigures): void {
    if (!this.opts.enabled) return;
    if (this.tty) {
      this.draw(last);
    } else if (last.t - this.lastPlainT >= this.everySec - 0.25) {
      this.plain(period());
    }
  }

  /**
   * The load is over: the terminal line is drawn one last time and ended with a newline; in plain
   * mode a last line covers the time since the previous one (unless that was just written).
   */
  done(last: ProgressFigures, period: () => ProgressFigures): void {
    if (!this.opts.enabled) return;
    if (this.tty) {
      this.draw(last);
      this.out.write('\n');
      this.drawn = '';
    } else if (last.t - this.lastPlainT > 0.25 || this.lastPlainT === 0) {
      this.plain(period());
    }
  }

  /** A message during the load: on a terminal it goes above the live line, which is redrawn. */
  print(message: string): void {
    if (this.tty && this.drawn) {
      this.out.write(`${CLEAR_LINE}${message}\n${this.drawn}`);
    } else {
      this.out.write(`${message}\n`);
    }
  }

  private draw(f: ProgressFigures): void {
    const { line, barWidth } = ttyLine(f, this.opts, this.columns, this.barWidth);
    this.barWidth = barWidth;
    this.out.write(`${CLEAR_LINE}${line}`);
    this.drawn = line;
  }

  private plain(f: ProgressFigures): void {
    this.out.write(`${plainLine(f, this.opts)}\n`);
    this.lastPlainT = f.t;
  }
}
