/**
 * Live progress, written to an in-memory stream: on a terminal one line redrawn in place
 * (`\r` + clear line, never wider than the terminal, messages above it); elsewhere a plain line
 * every 10 % of the run (5..30 s apart) with the figures of that interval, and one at the end.
 * Also the drill's own run with an injected terminal, and the CLI's plain lines through a pipe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bar,
  clock,
  Progress,
  type ProgressFigures,
  type ProgressOptions,
  type ProgressStream,
  plainIntervalSec,
  plainLine,
  ttyLine,
} from '../../src/drill/progress.js';
import { Timeline } from '../../src/drill/timeline.js';
import { FAKE_ADMIN_TOKEN, type FakeApi, startFakeCouponApi } from './support/fake-coupon-api.js';
import { removeOutDirs, runDrillCli, tempOut } from './support/run-cli.js';

afterAll(removeOutDirs);

const CLEAR = '\r\x1b[2K';

class Capture implements ProgressStream {
  text = '';
  constructor(
    readonly isTTY?: boolean,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

const OPTS: ProgressOptions = {
  enabled: true,
  plannedSec: 50,
  business: [
    { metric: 'coupon_issued', label: 'issued' },
    { metric: 'coupon_sold_out', label: 'sold out' },
  ],
  open: false,
};

function fig(t: number, over: Partial<ProgressFigures> = {}): ProgressFigures {
  return {
    t,
    vus: Math.min(500, t * 50),
    vusMax: 500,
    rps: 540,
    p95: 12.44,
    errors: 3,
    counters: { coupon_issued: t * 100, coupon_sold_out: t > 20 ? t * 10 : 0, dropped_iterations: 7 },
    ...over,
  };
}

/** Feeds one update per second for `seconds`, then done(); period() answers the interval figures. */
function drive(p: Progress, seconds: number, periodCalls: number[] = []) {
  for (let t = 1; t <= seconds; t++) {
    p.update(fig(t), () => {
      periodCalls.push(t);
      return fig(t, { rps: 111, p95: 99 });
    });
  }
  p.done(fig(seconds), () => fig(seconds, { rps: 222, p95: 88 }));
}

describe('the terminal line', () => {
  it('shows bar, percent, elapsed/planned, VUs, req/s, p95, errors and business counters', () => {
    const { line, barWidth } = ttyLine(fig(21), OPTS, 160);
    expect(line).toBe(
      `${bar(0.42, barWidth)}   42%  21s/50s  vus 500/500  req/s 540  p95 12.4ms  errors 3  issued 2100  sold out 210`,
    );
    expect(barWidth).toBe(30);
    expect(bar(0.42, 12)).toBe('[====>-----]');
    expect(bar(1, 12)).toBe('[==========]');
    expect(ttyLine(fig(21), { ...OPTS, open: true }, 200).line).toMatch(/ dropped 7$/);
  });

  it('never gets wider than the terminal: the bar shrinks, goes, then the tail is cut with …', () => {
    for (const columns of [200, 120, 100, 80, 60, 40]) {
      const { line } = ttyLine(fig(33), OPTS, columns);
      expect(line.length, `${columns} columns`).toBeLessThanOrEqual(columns - 1);
    }
    expect(ttyLine(fig(33), OPTS, 120).barWidth).toBe(30);
    expect(ttyLine(fig(33), OPTS, 110).barWidth).toBe(21);
    expect(ttyLine(fig(33), OPTS, 90).barWidth).toBe(0);
    const cut = ttyLine(fig(33), OPTS, 60).line;
    expect(cut.endsWith('…')).toBe(true);
    expect(cut).toMatch(/^ 66% {2}33s\/50s {2}vus 500\/500 {2}req\/s 540/);
  });

  it('marks the graceful stop once the planned time is over', () => {
    expect(ttyLine(fig(52), OPTS, 200).line).toMatch(/100% {2}52s\/50s .* \(graceful stop\)$/);
    expect(clock(65)).toBe('1m05s');
    expect(clock(9.97)).toBe('9s');
  });
});

describe('Progress on a terminal (injected stream with isTTY)', () => {
  it('redraws one line in place about once per second and ends it with a newline', () => {
    const out = new Capture(true, 150);
    const p = new Progress(out, OPTS);
    const periods: number[] = [];
    drive(p, 50, periods);
    expect(p.tty).toBe(true);
    const draws = out.text.split(CLEAR).slice(1);
    expect(draws).toHaveLength(51); // 50 updates + the final redraw
    // In place: no newline until the end, and every redraw starts with \r + clear line.
    expect(out.text.startsWith(CLEAR)).toBe(true);
    expect(out.text.indexOf('\n')).toBe(out.text.length - 1);
    for (const d of draws) expect(d.replace('\n', '').length).toBeLessThanOrEqual(149);
    expect(draws[20]).toMatch(
      /^\[=+>-*\]\s+42% {2}21s\/50s {2}vus 500\/500 {2}req\/s 540 {2}p95 12\.4ms {2}errors 3 {2}issued 2100/,
    );
    // The bar never widens back and forth as the figures grow.
    const widths = draws.map((d) => d.indexOf(']'));
    for (let i = 1; i < widths.length; i++) expect(widths[i]).toBeLessThanOrEqual(widths[i - 1]);
    // Terminal lines show the last second; the interval figures are never asked for.
    expect(periods).toEqual([]);
  });

  it('prints a message above the live line and redraws it', () => {
    const out = new Capture(true, 150);
    const p = new Progress(out, OPTS);
    p.update(fig(3), () => fig(3));
    out.text = '';
    p.print('iteration error (reported once): boom');
    expect(out.text).toBe(
      `${CLEAR}iteration error (reported once): boom\n${ttyLine(fig(3), OPTS, 150).line}`,
    );
  });

  it('takes the terminal flag from the options over the stream, and 0 columns as unknown', () => {
    const out = new Capture(false, 0);
    const p = new Progress(out, { ...OPTS, isTTY: true });
    p.update(fig(1), () => fig(1));
    expect(out.text.startsWith(CLEAR)).toBe(true);
    expect(out.text.length - CLEAR.length).toBeGreaterThan(60); // 100 columns assumed, not 0
    expect(new Progress(new Capture(true), { ...OPTS, isTTY: false }).tty).toBe(false);
  });
});

describe('Progress in plain mode (not a terminal)', () => {
  it('writes a line every 10 % of the run (5..30 s apart) with that interval’s figures, and a last one', () => {
    expect([3, 30, 50, 120, 300, 3_600].map(plainIntervalSec)).toEqual([5, 5, 5, 12, 30, 30]);

    const out = new Capture(); // no isTTY at all: a pipe
    const periods: number[] = [];
    drive(new Progress(out, OPTS), 50, periods);
    const lines = out.text.trimEnd().split('\n');
    expect(out.text).not.toContain('\r');
    expect(lines).toHaveLength(10);
    expect(periods).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
    expect(lines[0]).toBe(plainLine(fig(5, { rps: 111, p95: 99 }), OPTS));
    expect(lines[0]).toBe(
      '[     5s/50s  10%]  vus 250/500  req/s 111  p95 99.0ms  errors 3  issued 500  sold out 0',
    );

    // A 5-minute stress run: 10 lines, not 300.
    const long = new Capture(false);
    drive(new Progress(long, { ...OPTS, plannedSec: 300 }), 300);
    expect(long.text.trimEnd().split('\n')).toHaveLength(10);
  });

  it('ends with a line for the time since the previous one, even when the run is shorter than the interval', () => {
    const out = new Capture(false);
    drive(new Progress(out, { ...OPTS, plannedSec: 3 }), 3);
    expect(out.text).toBe(`${plainLine(fig(3, { rps: 222, p95: 88 }), { ...OPTS, plannedSec: 3 })}\n`);
    const uneven = new Capture(false);
    drive(new Progress(uneven, OPTS), 52);
    expect(uneven.text.trimEnd().split('\n').at(-1)).toMatch(
      /^\[ {4}52s\/50s 100%\].*req\/s 222 .*\(graceful stop\)$/,
    );
  });

  it('writes nothing when disabled (--quiet)', () => {
    for (const tty of [true, false]) {
      const out = new Capture(tty, 120);
      drive(new Progress(out, { ...OPTS, enabled: false }), 10);
      expect(out.text).toBe('');
    }
  });
});

describe('Timeline.period', () => {
  it('gives the request rate and p95 over every window closed since the previous call', () => {
    const tl = new Timeline();
    const gen = { cpu: 0, loopP99: 0, loopMax: 0, t: 0 } as never;
    const vus = { active: 1, allocated: 1 };
    for (let i = 1; i <= 100; i++) tl.record(200, i, false);
    tl.close(1, vus, {}, gen);
    for (let i = 1; i <= 100; i++) tl.record(200, 1_000 + i, i <= 10);
    tl.close(2, vus, {}, gen);
    const p = tl.period();
    expect(p.seconds).toBeCloseTo(2, 6);
    expect(p.reqs).toBe(200);
    expect(p.rps).toBeCloseTo(100, 6);
    expect(p.failed).toBe(10);
    expect(p.p95).toBeGreaterThan(1_080);
    expect(p.p95).toBeLessThan(1_100);
    for (let i = 0; i < 50; i++) tl.record(200, 5, false);
    tl.close(4, vus, {}, gen);
    expect(tl.period()).toMatchObject({ seconds: 2, reqs: 50, rps: 25, failed: 0 });
    expect(tl.period()).toMatchObject({ seconds: 0, reqs: 0, rps: 0, p95: 0 });
  });
});

describe('the drill’s progress', () => {
  let api: FakeApi;
  beforeAll(async () => {
    api = await startFakeCouponApi();
  });
  afterAll(() => api.close());

  const load = () => [
    'coupon-drop',
    '--target',
    api.url,
    '--admin-token',
    FAKE_ADMIN_TOKEN,
    '--vus',
    '10',
    '--duration',
    '3s',
    '--think-time',
    '50ms..100ms',
    '--users',
    '100',
    '--quantity',
    '40',
    '--threshold',
    'http_req_failed: rate<0.01',
  ];

  it('redraws in place on an injected terminal', async () => {
    const { parseDrillArgs } = await import('../../src/drill/options.js');
    const { runDrill } = await import('../../src/drill/run.js');
    const parsed = parseDrillArgs([...load(), '--out', tempOut()], {});
    if (parsed.help) throw new Error('help');
    const stderr = new Capture(true, 140);
    const stdout = new Capture(false);
    const outcome = await runDrill(parsed.options, { stdout, stderr });
    expect(outcome.summary.audit.verdict).toBe('PASS');
    const live = stderr.text.slice(stderr.text.indexOf(CLEAR), stderr.text.lastIndexOf(CLEAR));
    // Three seconds: ~3 redraws of one line, not three lines; the bar and counters are there.
    expect(live.split(CLEAR).length - 1).toBeGreaterThanOrEqual(2);
    expect(live).not.toContain('\n');
    expect(live).toMatch(
      /\[[=>-]+\]\s+\d+% {2}\ds\/3s {2}vus \d+\/10 {2}req\/s \d+ {2}p95 [\d.]+ms {2}errors 0 {2}issued \d+ {2}sold out \d+ {2}duplicate \d+/,
    );
    expect(stderr.text).not.toMatch(/progress: a line every/);
    expect(outcome.summary.state.isStdErrTTY).toBe(true);
  });

  it('writes a few plain lines through a pipe, announcing their cadence', async () => {
    const run = await runDrillCli(load());
    expect([0, 97]).toContain(run.code);
    const progress = run.stderr.split('\n').filter((l) => /^\[\s+\d+s\/3s\s+\d+%\]/.test(l));
    expect(run.stderr).toMatch(/progress: a line every 5 s \(req\/s and p95 over that interval/);
    expect(run.stderr).not.toContain('\r');
    expect(progress).toHaveLength(1);
    expect(progress[0]).toMatch(
      /^\[\s+3s\/3s 100%\] {2}vus \d+\/10 {2}req\/s \d+ {2}p95 [\d.]+ms {2}errors 0 {2}issued \d+/,
    );
  });
});
