/**
 * report.html opens in headless Chromium without script errors and draws its charts: every chart
 * has an SVG with drawn series, the tables are there, a legend click hides a series, and
 * screenshots are not blank. Chromium is the Debian package (scripts/ensure-chromium.sh); without
 * it this file fails in CI (CI=true) and is skipped with a warning elsewhere.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillSummary } from '../../src/drill/summary.js';
import { FAKE_ADMIN_TOKEN, type FakeApi, startFakeCouponApi } from './support/fake-coupon-api.js';
import { expectedExit, LENIENT_THRESHOLDS, removeOutDirs, runDrillCli } from './support/run-cli.js';

afterAll(removeOutDirs);

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const available = existsSync(CHROMIUM);
const inCi = process.env.CI === 'true';

if (!available && inCi) {
  describe('report.html in Chromium', () => {
    it('needs /usr/bin/chromium in CI', () => {
      throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh before the tests`);
    });
  });
} else if (!available) {
  console.warn(
    `\n!!! ${CHROMIUM} not found: the report.html browser test is SKIPPED (scripts/ensure-chromium.sh installs it; CI=true fails instead)\n`,
  );
}

/**
 * Distinct colours and share of non-white pixels of a PNG, decoded by the browser itself. The
 * browser-side code is a string because this project's TypeScript has no DOM types.
 */
const PIXEL_STATS = `async (b64) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width;
  c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const colors = new Set();
  let inked = 0;
  for (let i = 0; i < d.length; i += 4) {
    colors.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) inked++;
  }
  return { colors: colors.size, inked: inked / (d.length / 4) };
}`;

/** Pixels of a PNG within a small distance of the colour `hex` (decoded by the browser). */
const COLOR_PIXELS = `async ([b64, hex]) => {
  const img = new Image();
  img.src = 'data:image/png;base64,' + b64;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width;
  c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (Math.abs(d[i] - want[0]) + Math.abs(d[i + 1] - want[1]) + Math.abs(d[i + 2] - want[2]) < 40) n++;
  }
  return n;
}`;

async function colorPixels(page: Page, png: Buffer, hex: string): Promise<number> {
  const n: unknown = await page.evaluate(
    `(${COLOR_PIXELS})(${JSON.stringify([png.toString('base64'), hex])})`,
  );
  if (typeof n !== 'number') throw new Error('color pixels: unexpected result');
  return n;
}

/**
 * Per chart: the top gridline's y, the smallest y any series reaches (SVG user units), and each
 * limit label's box with the y of every limit line. A string for the same reason as PIXEL_STATS.
 */
const CHART_GEOMETRY = `() => [...document.querySelectorAll('figure.chart')].map((f) => {
  const ys = (el) => (el.getAttribute('points') || '').trim().split(' ').map((p) => Number(p.split(',')[1]));
  const grid = [...f.querySelectorAll('svg line.grid')].map((l) => Number(l.getAttribute('y1')));
  const series = [
    ...[...f.querySelectorAll('svg polyline[data-series]')].flatMap(ys),
    ...[...f.querySelectorAll('svg rect[data-series]')].map((r) => Number(r.getAttribute('y'))),
  ];
  return {
    id: f.id,
    topGrid: Math.min(...grid),
    highest: Math.min(...series),
    limits: [...f.querySelectorAll('svg line.limit')].map((l) => Number(l.getAttribute('y1'))),
    labels: [...f.querySelectorAll('svg text.limit-label')].map((t) => {
      const b = t.getBBox();
      return { text: t.textContent, top: b.y, bottom: b.y + b.height };
    }),
  };
})`;

interface ChartGeometry {
  id: string;
  topGrid: number;
  highest: number;
  limits: number[];
  labels: { text: string; top: number; bottom: number }[];
}

async function pixelStats(page: Page, png: Buffer): Promise<{ colors: number; inked: number }> {
  const r: unknown = await page.evaluate(`(${PIXEL_STATS})(${JSON.stringify(png.toString('base64'))})`);
  const o = r as { colors?: unknown; inked?: unknown };
  if (typeof o?.colors !== 'number' || typeof o.inked !== 'number')
    throw new Error('pixel stats: unexpected result');
  return { colors: o.colors, inked: o.inked };
}

describe.skipIf(!available)('report.html in Chromium', () => {
  let api: FakeApi;
  let browser: Browser;
  let reportPath = '';
  let summary: DrillSummary;

  beforeAll(async () => {
    api = await startFakeCouponApi();
    const run = await runDrillCli([
      'coupon-drop',
      '--target',
      api.url,
      '--admin-token',
      FAKE_ADMIN_TOKEN,
      '--vus',
      '20',
      '--duration',
      '3s',
      '--think-time',
      '20ms..80ms',
      '--users',
      '300',
      '--quantity',
      '100',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(run.code, run.stderr).toBe(expectedExit(run, 0));
    summary = run.summary as DrillSummary;
    reportPath = path.join(run.outDir, 'report.html');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('loads without script errors and draws every chart', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${reportPath}`);
    await page.waitForSelector('body[data-ready="true"]');
    expect(errors).toEqual([]);
    // Self-contained: nothing but the file itself (and inline data: images) is fetched.
    expect(requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'))).toEqual([]);

    const charts = await page.$$eval('figure.chart', (figs) =>
      figs.map((f) => ({
        id: f.id,
        svg: f.querySelectorAll('svg').length,
        lines: [...f.querySelectorAll('svg polyline[data-series]')].filter(
          (p) => (p.getAttribute('points') ?? '').split(' ').length > 1,
        ).length,
        bars: f.querySelectorAll('svg rect[data-series]').length,
        width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
      })),
    );
    expect(charts.map((c) => c.id)).toEqual([
      'chart-load',
      'chart-latency',
      'chart-status',
      'chart-business',
      'chart-generator',
    ]);
    for (const c of charts) {
      expect(c.svg, c.id).toBe(1);
      expect(c.lines + c.bars, c.id).toBeGreaterThan(0);
      expect(c.width, c.id).toBeGreaterThan(500);
    }
    expect(charts.find((c) => c.id === 'chart-latency')?.lines).toBe(4);
    expect(charts.find((c) => c.id === 'chart-status')?.bars).toBeGreaterThan(summary.timeline.length);

    expect(await page.textContent('#audit-verdict')).toBe('audit PASS');
    expect(await page.textContent('#generator-verdict')).toBe(`load generator ${summary.generator.verdict}`);
    const thresholdRows = await page.$$eval('#thresholds tbody tr', (rows) => rows.length);
    expect(thresholdRows).toBe(3);
    const auditRows = await page.$$eval('#audit tbody tr', (rows) =>
      rows.map((r) => r.children[1]?.textContent),
    );
    expect(auditRows).toContain('no_oversell');

    // The legend toggles a series.
    await page.click('#chart-latency .key[data-series="p99"]');
    const hidden = await page.$eval(
      '#chart-latency polyline[data-series="p99"]',
      (el) => (el as unknown as { style: { display: string } }).style.display,
    );
    expect(hidden).toBe('none');
    await page.close();
  });

  it('renders non-blank screenshots', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${reportPath}`);
    const full = await pixelStats(page, await page.screenshot({ fullPage: true }));
    expect(full.colors).toBeGreaterThan(50);
    expect(full.inked).toBeGreaterThan(0.05);
    const chart = await pixelStats(page, await (await page.$('#chart-latency svg'))!.screenshot());
    expect(chart.colors).toBeGreaterThan(8);
    expect(chart.inked).toBeGreaterThan(0.02);
    await page.close();
  });

  it('leaves headroom above every series, so none runs along the top gridline', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${reportPath}`);
    const charts = (await page.evaluate(`(${CHART_GEOMETRY})()`)) as ChartGeometry[];
    expect(charts).toHaveLength(5);
    for (const c of charts) {
      // y grows downwards: the highest point stays clearly below the top gridline.
      expect(c.highest, c.id).toBeGreaterThan(c.topGrid + 8);
    }
    await page.close();
  });

  it('sets each limit label beside its own line, touching no limit line', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${reportPath}`);
    const charts = (await page.evaluate(`(${CHART_GEOMETRY})()`)) as ChartGeometry[];
    const gen = charts.find((c) => c.id === 'chart-generator');
    expect(gen?.labels.map((l) => l.text)).toEqual(['CPU limit 95%', 'delay limit 100 ms']);
    for (const l of gen?.labels ?? []) {
      for (const y of gen?.limits ?? []) {
        expect(
          y < l.top - 0.5 || y > l.bottom + 0.5,
          `${l.text} [${l.top}, ${l.bottom}] vs line at ${y}`,
        ).toBe(true);
      }
    }
    await page.close();
  });

  it('keeps p95 visible where it equals p99: p99 is drawn first, wider and dashed, p95 over it', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${reportPath}`);
    const drawn = await page.$$eval('#chart-latency polyline[data-series]', (els) =>
      els.map((e) => ({
        name: e.getAttribute('data-series'),
        width: Number(e.getAttribute('stroke-width')),
        dashed: e.hasAttribute('stroke-dasharray'),
      })),
    );
    expect(drawn.map((d) => d.name)).toEqual(['p99', 'p95', 'p90', 'p50']);
    expect(drawn[0].dashed).toBe(true);
    for (let i = 1; i < drawn.length; i++) expect(drawn[i].width).toBeLessThan(drawn[i - 1].width);
    // The legend keeps reading order.
    const legend = await page.$$eval('#chart-latency .key', (ks) =>
      ks.map((k) => k.getAttribute('data-series')),
    );
    expect(legend).toEqual(['p50', 'p90', 'p95', 'p99']);
    // At this low rate p95 is often p99 itself; its orange still shows in the chart.
    const png = await (await page.$('#chart-latency svg'))!.screenshot();
    expect(await colorPixels(page, png, '#f59e0b')).toBeGreaterThan(400);
    await page.close();
  });

  it('keeps every key figure on one line, unclipped, at two widths', async () => {
    for (const width of [1100, 700]) {
      const page = await browser.newPage({ viewport: { width, height: 900 } });
      await page.goto(`file://${reportPath}`);
      const cards = await page.$$eval('.card .v', (vs) =>
        vs.map((v) => {
          const e = v as unknown as { scrollWidth: number; clientWidth: number; textContent: string };
          return {
            text: e.textContent,
            fits: e.scrollWidth <= e.clientWidth + 1,
            height: v.getBoundingClientRect().height,
          };
        }),
      );
      expect(cards.length).toBeGreaterThan(6);
      const oneLine = Math.min(...cards.map((c) => c.height));
      for (const c of cards) {
        expect(c.fits, `${width}px: ${c.text}`).toBe(true);
        expect(c.height, `${width}px: ${c.text}`).toBeLessThan(oneLine * 1.2);
      }
      await page.close();
    }
  });

  it('colours status codes with distinct shades, and shows facts and executor settings in words', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`file://${reportPath}`);
    const swatches = await page.$$eval('#chart-status .key .swatch', (ss) =>
      ss.map((s) => (s as unknown as { style: { background: string } }).style.background),
    );
    expect(swatches.length).toBeGreaterThanOrEqual(2);
    expect(new Set(swatches).size).toBe(swatches.length);

    const facts = await page.$$eval('#facts tr', (rows) =>
      rows.map((r) => ({ key: r.getAttribute('data-key'), label: r.querySelector('th')?.textContent ?? '' })),
    );
    expect(facts.map((f) => f.key)).toEqual(Object.keys(summary.audit.facts));
    for (const f of facts) expect(f.label, f.key ?? '').not.toMatch(/[a-z][A-Z]/);
    expect(facts.find((f) => f.key === 'usersTried')?.label).toBe('users who tried');

    const executor = (await page.textContent('#executor')) ?? '';
    expect(executor).toMatch(/ramping-vus \(closed model/);
    expect(executor).toMatch(/hold 20 VUs for 3 s/);
    expect(executor).toMatch(/0\.02–0\.08 s between a VU's iterations/);
    expect(executor).toMatch(/graceful stop/);
    expect(executor).not.toMatch(/[{}"]/);
    await page.close();
  });
});
