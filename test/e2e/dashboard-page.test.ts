/**
 * The live operations page (`GET /dashboard`, web/dashboard.html + dashboard.js + dashboard.css,
 * Chart.js from the `chart.js` package at /dashboard/chart.js) in headless Chromium against an
 * embedded server: the page asks for the admin token (a wrong one is refused and asked again),
 * fills its charts from the history, then moves with the stream while a coupon drop is issued —
 * requests/s and the drop's issued/s gain points, the busiest-routes table names the issue route —
 * and an alert rule that fires on that traffic appears in the firing list, then in the resolved
 * list once the traffic stops. A token the server refuses later asks for the token again; the
 * server's `shutdown` event is followed by a reconnect; the page fits a phone's width; it loads
 * nothing but its own server and logs no console error.
 *
 * The desktop-sized screenshot (docs/dashboard.png, shown in the README) is written when missing or
 * with UPDATE_SCREENSHOTS=1 (test/support/browser.ts), so a run leaves the repository as it was.
 */
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  foreignRequests,
  launchChromium,
  needChromium,
  openRecorded,
  type RecordedPage,
  saveScreenshot,
} from '../support/browser.js';
import {
  ADMIN_TOKEN,
  createDatabaseFor,
  createUsers,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
} from '../support/harness.js';

const WHAT = 'live operations page in Chromium';
const available = needChromium(WHAT);
const SCREENSHOT = path.join('docs', 'dashboard.png');
const DESKTOP = { viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 };

/** Requests at a steady pace until stopped; answers are not judged (the page is under test). */
function traffic(perSecond: number, task: (i: number) => Promise<unknown>) {
  let i = 0;
  const inflight = new Set<Promise<unknown>>();
  const timer = setInterval(() => {
    for (let k = 0; k < Math.max(1, Math.round(perSecond / 10)); k++) {
      const p = task(i++).catch(() => {});
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
  }, 100);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inflight);
    },
  };
}

describe.skipIf(!available)(WHAT, () => {
  let db: TestDatabase;
  let server: TestServer;
  let browser: Browser;
  let users: TestUser[];
  const agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });
  const contexts: BrowserContext[] = [];

  const url = (p: string) => `${server.url}${p}`;
  /** One call through this file's own agent (closed before the server, so no socket outlives it). */
  async function call(
    method: 'GET' | 'POST' | 'PUT',
    p: string,
    opts: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(url(p), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      dispatcher: agent,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      header: (name: string) => String(res.headers[name] ?? ''),
      text,
      // biome-ignore lint/suspicious/noExplicitAny: answers are asserted field by field
      json: (): any => JSON.parse(text),
    };
  }
  const admin = (method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown) =>
    call(method, p, { token: ADMIN_TOKEN, body });

  async function putRules(rules: unknown[]) {
    const res = await admin('PUT', '/api/v1/admin/alert-rules', { rules });
    expect(res.status, res.text).toBe(200);
  }

  async function drop(quantity: number): Promise<string> {
    const r = await admin('POST', '/api/v1/admin/coupons', {
      name: `drop of ${quantity}`,
      discount: { type: 'AMOUNT', value: 500 },
      quantity,
    });
    expect(r.status).toBe(201);
    return r.json().id;
  }

  /** Issues of one drop to the users in turn: 201 until sold out, then 410, 409 for repeats. */
  const issuing = (couponId: string, perSecond: number) =>
    traffic(perSecond, (i) =>
      call('POST', `/api/v1/coupons/${couponId}/issue`, { token: users[i % users.length].token }),
    );

  async function open(options = DESKTOP, expected: RegExp[] = []): Promise<RecordedPage> {
    const o = await openRecorded(browser, options, expected);
    contexts.push(o.context);
    return o;
  }

  // Reads go through Playwright (locators, an expression evaluated over the DevTools protocol),
  // never code the page evaluates itself: its Content-Security-Policy forbids eval.
  const text = async (page: Page, sel: string) => ((await page.textContent(sel)) ?? '').trim();
  /** The y values of one dataset of one chart (by canvas id and dataset label); null when absent. */
  const series = (page: Page, canvas: string, label: string) =>
    page.evaluate(
      `(() => {
        const chart = window.Chart && window.Chart.getChart(${JSON.stringify(canvas)});
        const d = chart && chart.data.datasets.find((s) => s.label === ${JSON.stringify(label)});
        return d ? d.data.map((p) => p.y) : null;
      })()`,
    ) as Promise<number[] | null>;
  const items = (page: Page, list: string) =>
    page.locator(`#${list} li`).evaluateAll((els) => els.map((e) => e.getAttribute('data-rule') ?? ''));

  async function signIn(page: Page, token = ADMIN_TOKEN) {
    await page.getByLabel('Admin token', { exact: true }).fill(token);
    await page.getByRole('button', { name: 'Open the live view' }).click();
  }

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    server = await startTestServer(db);
    browser = await launchChromium();
    users = await createUsers(server.url, 600);
  });
  afterAll(async () => {
    // Pages first: their open event streams must not outlive the server.
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    // This file's agent next: a kept-alive socket of another client (global fetch's) would hold
    // the server's close until Node's headers timeout (60 s).
    await agent.close();
    await server?.close();
    await db?.drop();
  });

  it('is served as HTML with its own policy, with its script, styles and Chart.js from this server', async () => {
    const page = await call('GET', '/dashboard');
    expect(page.status).toBe(200);
    expect(page.header('content-type')).toBe('text/html; charset=utf-8');
    const csp = page.header('content-security-policy');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe');
    expect(page.header('referrer-policy')).toBe('no-referrer');
    expect(page.text).toContain('<meta name="viewport"');
    expect(page.text).toContain('src="/dashboard/chart.js"');
    const again = await call('GET', '/dashboard', { headers: { 'if-none-match': page.header('etag') } });
    expect(again.status).toBe(304);

    const chart = await call('GET', '/dashboard/chart.js');
    expect(chart.status).toBe(200);
    expect(chart.header('content-type')).toBe('text/javascript; charset=utf-8');
    expect(chart.text).toContain('Chart.js v4.');
    expect(chart.text).not.toContain('sourceMappingURL');
    for (const [file, type] of [
      ['/dashboard/dashboard.js', 'text/javascript; charset=utf-8'],
      ['/dashboard/dashboard.css', 'text/css; charset=utf-8'],
    ]) {
      const r = await call('GET', file);
      expect(r.status, file).toBe(200);
      expect(r.header('content-type')).toBe(type);
    }
    expect((await call('GET', '/dashboard/nothing.js')).status).toBe(404);
    // A page, not API operations: left out of the OpenAPI document.
    const doc = (await call('GET', '/docs/json')).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/dashboard'))).toEqual([]);
  });

  it('asks for the token, draws the history, moves with a drop and lists the alert it fires', async () => {
    await putRules([
      {
        id: 'drop-traffic',
        kind: 'threshold',
        metric: 'http.rps',
        op: '>',
        value: 1,
        forSeconds: 1,
        severity: 'page',
      },
    ]);
    // Some seconds of history before the page opens, and a line in a waiting room.
    const room = await admin('POST', '/api/v1/admin/waiting-rooms', {
      name: 'Friday drop',
      maxActive: 5,
      idleTimeoutSeconds: 600,
    });
    expect(room.status).toBe(201);
    const roomId: string = room.json().id;
    for (const u of users.slice(0, 30)) {
      const r = await call('POST', `/api/v1/waiting-rooms/${roomId}/entries`, { token: u.token });
      expect([200, 201]).toContain(r.status);
    }

    // A wrong token is refused (the browser logs the 401 of that check), the right one opens the view.
    const o = await open(DESKTOP, [/status of 401/]);
    const { page } = o;
    await page.goto(url('/dashboard'));
    await page.getByLabel('Admin token', { exact: true }).waitFor();
    expect(await page.title()).toBe('Live operations · stampede');
    expect(await text(page, 'h1')).toBe('Live operations');
    await signIn(page, 'not-the-token');
    await expect
      .poll(() => text(page, '#login-error'), { timeout: 10_000 })
      .toBe('The server refused this token.');
    await signIn(page);
    await page.locator('#login').waitFor({ state: 'hidden', timeout: 10_000 });
    expect(await page.evaluate(`sessionStorage.getItem('stampede.adminToken')`)).toBe(ADMIN_TOKEN);
    await expect.poll(() => text(page, '#connection'), { timeout: 15_000 }).toBe('Live');

    // History first: the requests/s chart has the seconds before the page opened.
    await expect
      .poll(async () => (await series(page, 'chart-rps', 'requests/s'))?.length ?? 0)
      .toBeGreaterThan(1);
    const before = (await series(page, 'chart-rps', 'requests/s'))!.length;

    const first = await drop(150);
    const load = issuing(first, 40);
    try {
      await expect
        .poll(
          async () => {
            const ys = (await series(page, 'chart-rps', 'requests/s')) ?? [];
            return ys.length > before && ys[ys.length - 1] > 0;
          },
          { timeout: 20_000, interval: 200 },
        )
        .toBe(true);
      await expect
        .poll(
          async () => Math.max(0, ...((await series(page, 'chart-coupons', `drop ${first} issued/s`)) ?? [])),
          {
            timeout: 20_000,
            interval: 200,
          },
        )
        .toBeGreaterThan(0);
      await expect
        .poll(() => text(page, '#routes-body'), { timeout: 15_000 })
        .toContain('/api/v1/coupons/:couponId/issue');
      await expect
        .poll(() => items(page, 'alerts-firing'), { timeout: 20_000, interval: 200 })
        .toContain('drop-traffic');
      expect(await text(page, '#firing-count')).toBe('1');
      expect(await text(page, '#alerts-firing li .badge')).toBe('page');
      expect(await text(page, '#rooms-now')).toMatch(
        new RegExp(`^room ${roomId}: [0-9]+ waiting, [0-9]+ active`),
      );
    } finally {
      await load.stop();
    }
    // Without the traffic the rule resolves: listed as resolved, nothing firing.
    await expect
      .poll(() => items(page, 'alerts-resolved'), { timeout: 30_000, interval: 250 })
      .toContain('drop-traffic');
    await expect.poll(() => items(page, 'alerts-firing'), { timeout: 10_000 }).toEqual([]);
    expect(await page.isVisible('#no-firing')).toBe(true);

    // A second drop fires the rule again (a new alert), beside a seat sale and a product sale: the
    // picture shows it firing over the first, with something in every business panel.
    const buyers = users.slice(100, 200);
    for (const u of buyers) {
      const r = await call('POST', '/api/v1/me/points/charge', { token: u.token, body: { amount: 10_000 } });
      expect(r.status).toBe(200);
    }
    const concert = await admin('POST', '/api/v1/admin/concerts', {
      name: 'Summer night',
      schedules: [{ startsAt: '2027-06-01T19:00:00Z', seatCount: 60, price: 100 }],
    });
    expect(concert.status).toBe(201);
    const scheduleId: string = concert.json().schedules[0].id;
    const product = await admin('POST', '/api/v1/admin/products', {
      name: 'Tour shirt',
      price: 100,
      stock: 40,
    });
    expect(product.status).toBe(201);
    const productId: string = product.json().id;
    const second = await drop(100);
    const issues = issuing(second, 25);
    const sales = traffic(10, async (i) => {
      const u = buyers[i % buyers.length];
      if (i % 2)
        return call('POST', '/api/v1/orders', {
          token: u.token,
          body: { items: [{ productId, quantity: 1 }] },
        });
      const hold = await call('POST', '/api/v1/reservations', {
        token: u.token,
        body: { scheduleId, seats: [1 + ((i * 7) % 60)] },
      });
      if (hold.status === 201)
        await call('POST', `/api/v1/reservations/${hold.json().reservationId}/pay`, { token: u.token });
    });
    try {
      await expect
        .poll(() => items(page, 'alerts-firing'), { timeout: 20_000, interval: 200 })
        .toContain('drop-traffic');
      await expect
        .poll(
          async () =>
            ((await series(page, 'chart-coupons', `drop ${second} sold out/s`)) ?? []).some((y) => y > 0),
          { timeout: 30_000, interval: 250 },
        )
        .toBe(true);
      await expect
        .poll(async () => Math.max(0, ...((await series(page, 'chart-holds', 'held/s')) ?? [])), {
          timeout: 30_000,
          interval: 250,
        })
        .toBeGreaterThan(0);
      // Enough seconds on the charts for the picture (a count of points, not a time).
      await expect
        .poll(async () => (await series(page, 'chart-rps', 'requests/s'))?.length ?? 0, {
          timeout: 60_000,
          interval: 500,
        })
        .toBeGreaterThanOrEqual(45);
      const png = await page.screenshot({ fullPage: true });
      expect(png.length).toBeGreaterThan(50_000); // drawn, not blank
      saveScreenshot(png, SCREENSHOT);
    } finally {
      await issues.stop();
      await sales.stop();
    }

    // Every chart canvas is labelled for screen readers.
    const unlabelled = await page
      .locator('canvas')
      .evaluateAll((els) => els.filter((e) => !e.getAttribute('aria-label')).map((e) => e.id));
    expect(unlabelled).toEqual([]);
    expect(o.errors).toEqual([]);
    expect(foreignRequests(o, server.url)).toEqual([]);
  });

  it('asks for the token again when the kept one is refused', async () => {
    const o = await open(DESKTOP, [/status of 401/]);
    const { page } = o;
    await page.goto(url('/dashboard'));
    await signIn(page);
    await expect.poll(() => text(page, '#connection'), { timeout: 15_000 }).toBe('Live');
    await page.evaluate(`sessionStorage.setItem('stampede.adminToken', 'rotated-away')`);
    await page.reload();
    await page.locator('#login').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await text(page, '#login-error')).toBe(
      'The server refused this token. Enter the admin token again.',
    );
    expect(await text(page, '#connection')).toBe('Token refused');
    expect(await page.evaluate(`sessionStorage.getItem('stampede.adminToken')`)).toBeNull();
    await signIn(page);
    await expect.poll(() => text(page, '#connection'), { timeout: 15_000 }).toBe('Live');
    expect(o.errors).toEqual([]);
  });

  it("reconnects after the server's shutdown event, and fits a phone's width", async () => {
    const o = await open(PHONE);
    const { page } = o;
    // The first stream is a draining server's: one `shutdown` event, then the end.
    let streams = 0;
    await page.route('**/api/v1/admin/live?**', (route) => {
      streams++;
      if (streams > 1) return route.continue();
      return route.fulfill({
        status: 200,
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
        body: 'event: shutdown\ndata: {"reason":"the server is shutting down; reconnect"}\n\n',
      });
    });
    await page.goto(url('/dashboard'));
    await signIn(page);
    await expect
      .poll(() => text(page, '#connection'), { timeout: 15_000, interval: 20 })
      .toMatch(/^The server is shutting down; reconnecting in \d+ s…$/);
    await expect.poll(() => text(page, '#connection'), { timeout: 15_000 }).toBe('Live');
    expect(streams).toBeGreaterThanOrEqual(2);
    await expect.poll(() => text(page, '#rps-now'), { timeout: 15_000 }).toMatch(/requests\/s$/);

    // One column, nothing wider than the screen.
    const widths = (await page.evaluate(
      `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`,
    )) as [number, number];
    expect(widths[0]).toBeLessThanOrEqual(widths[1]);
    const a = await page.locator('#chart-rps').boundingBox();
    const b = await page.locator('#chart-latency').boundingBox();
    expect(b!.y).toBeGreaterThan(a!.y + a!.height);
    expect(o.errors).toEqual([]);
    expect(foreignRequests(o, server.url)).toEqual([]);
  });
});
