/**
 * Headless Chromium for the page tests: the machine's Debian package (scripts/ensure-chromium.sh),
 * driven by playwright-core. Without it a browser test fails in CI (CI=true) and is skipped with a
 * warning elsewhere (`needChromium`).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { chromium } from 'playwright-core';
import { describe, it } from 'vitest';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Whether Chromium is here. When it is not: in CI, registers a failing test named for `what`;
 * elsewhere, warns that `what` is skipped. Call it at the top of a test file.
 */
export function needChromium(what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') {
    describe(what, () => {
      it('needs /usr/bin/chromium in CI', () => {
        throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh before the tests`);
      });
    });
  } else {
    console.warn(
      `\n!!! ${CHROMIUM} not found: ${what} is SKIPPED (scripts/ensure-chromium.sh installs it; CI=true fails instead)\n`,
    );
  }
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface RecordedPage {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught exceptions, except the ones the test expects. */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
}

/** A page in a fresh browser context (its own storage), recording its errors and requests. */
export async function openRecorded(
  browser: Browser,
  options: BrowserContextOptions,
  expected: RegExp[] = [],
): Promise<RecordedPage> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${String(e)}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !expected.some((re) => re.test(m.text())))
      errors.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => requests.push(r.url()));
  return { context, page, errors, requests };
}

/** Requests of a recorded page to anything but `origin` (and data: URLs). */
export function foreignRequests(p: RecordedPage, origin: string): string[] {
  return p.requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'));
}

/**
 * Writes a screenshot the README shows (e.g. docs/dashboard.png) when it is missing or with
 * UPDATE_SCREENSHOTS=1, else into a temporary directory: a test run leaves the repository as it
 * was. Returns where it was written.
 */
export function saveScreenshot(png: Buffer, file: string): string {
  const target =
    process.env.UPDATE_SCREENSHOTS === '1' || !existsSync(file)
      ? file
      : path.join(mkdtempSync(path.join(os.tmpdir(), 'stampede-shot-')), path.basename(file));
  writeFileSync(target, png);
  return target;
}
