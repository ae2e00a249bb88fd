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
});
