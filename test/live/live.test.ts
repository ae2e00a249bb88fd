/**
 * The live view end to end, in both modes: the admin stream sends one `snapshot` a second with
 * the requests every process served (two processes merged in cluster mode), the business counters
 * (a coupon drop's issues) and the gauges; the history returns the seconds already seen; bad
 * input and missing tokens get their documented 4xx.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseParser } from '../../src/drill/sse.js';
import { type Env, get, issueCoupons, type Mode, startEnv, users } from '../commerce/support.js';
import { ADMIN_TOKEN, clusterAvailable, startTestServer, type TestServer } from '../support/harness.js';

interface Snap {
  at: string;
  processes: number;
  http: { rps: number; p99: number | null; routes: { route: string; rps: number }[] };
  coupons: { couponId: string; perSecond: Record<string, number> }[];
  pool: { total: number };
  eventLoop: { p99Ms: number };
  breakers: Record<string, string>;
  alerts: unknown[];
}

/** Reads `snapshot` events from the live stream until `until` says stop (or 20 s pass). */
async function watch(base: string, until: (s: Snap) => boolean): Promise<Snap[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  const res = await request(`${base}/api/v1/admin/live?access_token=${ADMIN_TOKEN}`, {
    signal: controller.signal,
  });
  expect(res.statusCode).toBe(200);
  expect(String(res.headers['content-type'])).toMatch(/text\/event-stream/);
  const parser = new SseParser();
  const seen: Snap[] = [];
  try {
    for await (const chunk of res.body) {
      for (const e of parser.push(chunk.toString())) {
        if (e.event !== 'snapshot') continue;
        const s = JSON.parse(e.data) as Snap;
        seen.push(s);
        if (until(s)) return seen;
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return seen;
}

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`live view (${mode})`, () => {
    let env: Env;
    let second: TestServer | undefined;
    const bases = () => [env.server.url, ...(second ? [second.url] : [])];

    beforeAll(async () => {
      env = await startEnv(mode);
      if (mode === 'cluster') second = await startTestServer(env.db);
    });
    afterAll(async () => {
      await second?.close();
      await env?.close();
    });

    it('streams one merged snapshot a second with the requests and business counts of every process', async () => {
      const people = await users(env, 40);
      let reading = true;
      // Load on every process while the stream is watched: 40 coupon issues, and product reads.
      const load = (async () => {
        await issueCoupons(env, people, { type: 'AMOUNT', value: 5 });
        while (reading)
          await Promise.all(
            bases().map((b) => request(`${b}/api/v1/products?limit=5`).then((r) => r.body.dump())),
          );
      })();
      const seen = await watch(
        bases()[bases().length - 1],
        (s) =>
          s.processes === bases().length &&
          s.http.p99 !== null &&
          s.http.routes.some((r) => r.route === '/api/v1/products'),
      );
      reading = false;
      await load;
      const last = seen[seen.length - 1];
      expect(last.processes).toBe(bases().length);
      expect(last.http.rps).toBeGreaterThan(0);
      expect(last.http.routes.map((r) => r.route)).toContain('/api/v1/products');
      expect(last.pool.total).toBeGreaterThan(0);
      expect(last.breakers.postgres).toBe('closed');
      expect(Array.isArray(last.alerts)).toBe(true);
      // Snapshots are a second apart, in order.
      for (let i = 1; i < seen.length; i++)
        expect(Date.parse(seen[i].at) - Date.parse(seen[i - 1].at)).toBe(1_000);

      // Once the last second settled, the history counts each of the coupon's issues once.
      await new Promise((r) => setTimeout(r, 2_500));
      const h = await get(env, '/api/v1/admin/live/history?minutes=1', ADMIN_TOKEN);
      expect(h.status).toBe(200);
      const items = h.body.items as Snap[];
      expect(items.length).toBeGreaterThan(0);
      const issued = items.reduce(
        (n, s) => n + s.coupons.reduce((m, c) => m + (c.perSecond.issued ?? 0), 0),
        0,
      );
      expect(Math.round(issued)).toBe(people.length);
    });

    it('answers HEAD on the stream with its headers alone, and ends', async () => {
      const res = await request(`${env.server.url}/api/v1/admin/live?access_token=${ADMIN_TOKEN}`, {
        method: 'HEAD',
        headersTimeout: 5_000,
      });
      expect(res.statusCode).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/text\/event-stream/);
      expect(await res.body.text()).toBe('');
    });

    it('refuses without the admin token, and bad history minutes', async () => {
      const anon = await request(`${env.server.url}/api/v1/admin/live`);
      expect(anon.statusCode).toBe(401);
      await anon.body.dump();
      for (const q of ['minutes=0', 'minutes=61', 'minutes=x']) {
        const r = await get(env, `/api/v1/admin/live/history?${q}`, ADMIN_TOKEN);
        expect([r.status, r.body.code], q).toEqual([400, 'VALIDATION_FAILED']);
      }
      expect((await get(env, '/api/v1/admin/live/history')).status).toBe(401);
    });
  });
}
