/**
 * Alerts end to end (embedded mode): PostgreSQL is made slow through a TCP proxy, so the requests
 * that need it slow down; a threshold rule on p95 fires within its duration, shows in the live
 * snapshots and the alert list, and resolves once PostgreSQL is fast again. The alert webhook is
 * down at first: it still receives the firing and the resolution exactly once each, retried.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../commerce/concert-support.js';
import { type Env, get, startEnv, type TestUser, users, waitFor } from '../commerce/support.js';
import { ADMIN_TOKEN, startTestServer, type TestServer } from '../support/harness.js';
import { type TcpProxy, tcpProxy, throughProxy } from '../support/proxy.js';

interface Received {
  type: string;
  alert: { id: string; rule: string; state: string };
}

/** An alert webhook that answers 503 while `down`, and keeps what it accepted. */
async function receiver() {
  const state = { down: true, attempts: 0, received: [] as Received[] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      state.attempts += 1;
      if (state.down) {
        res.writeHead(503).end();
        return;
      }
      state.received.push(JSON.parse(body) as Received);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const SLOW_RULE = {
  id: 'slow-p95',
  kind: 'threshold',
  metric: 'http.p95',
  op: '>',
  value: 150,
  forSeconds: 2,
  severity: 'page',
};

describe('alerts (embedded): a latency rise fires a threshold rule, which resolves after', () => {
  let env: Env;
  let proxy: TcpProxy;
  let server: TestServer;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let people: TestUser[];
  const on = { base: '' };

  beforeAll(async () => {
    // The setup server runs no background work: one process evaluates the rules, as in a real
    // embedded deployment (two embedded processes on one database would both judge them).
    env = await startEnv('embedded', { runBackground: false });
    hook = await receiver();
    const db = new URL(env.db.url);
    proxy = await tcpProxy(db.hostname, Number(db.port));
    server = await startTestServer(
      { ...env.db, url: throughProxy(env.db.url, proxy) },
      { alertWebhookUrl: hook.url, outboxRetryBaseMs: 100, outboxRetryMaxMs: 400 },
    );
    on.base = server.url;
    people = await users(env, 5);
  });
  afterAll(async () => {
    await server?.close();
    await proxy?.close();
    await hook?.close();
    await env?.close();
  });

  const admin = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    send(env, method, path, { token: ADMIN_TOKEN, body, base: on.base });
  /** PUT /admin/alert-rules on the env's agent (closed with it, unlike fetch's pool). */
  const putRules = async (body: unknown, token = ADMIN_TOKEN) => {
    const r = await request(`${on.base}/api/v1/admin/alert-rules`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      dispatcher: env.agent,
    });
    const text = await r.body.text();
    return { status: r.statusCode, body: text ? JSON.parse(text) : null };
  };

  it('fires, shows, resolves, and tells the webhook once each', async () => {
    const set = await putRules({ rules: [SLOW_RULE] });
    expect(set.status).toBe(200);
    expect((await admin('GET', '/api/v1/admin/alert-rules')).body.rules).toEqual([SLOW_RULE]);

    // Steady reads of the user's wallet (PostgreSQL each time) while PostgreSQL turns slow.
    let reading = true;
    let firingId = '';
    const load = (async () => {
      while (reading)
        await Promise.all(
          people.map((u) => send(env, 'GET', '/api/v1/me/points', { token: u.token, base: on.base })),
        );
    })();
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      expect((await admin('GET', '/api/v1/admin/alerts?state=firing')).body.items).toEqual([]);
      proxy.delay(300);
      await waitFor(
        'the alert to fire',
        async () => (await admin('GET', '/api/v1/admin/alerts?state=firing')).body.items.length === 1,
        15_000,
      );
      const firing = (await admin('GET', '/api/v1/admin/alerts?state=firing')).body.items[0];
      expect(firing).toMatchObject({ rule: 'slow-p95', severity: 'page', state: 'FIRING', threshold: 150 });
      expect(firing.value).toBeGreaterThan(150);
      firingId = firing.id;
      // The snapshots carry it while it fires.
      await waitFor('a snapshot with the alert', async () => {
        const h = await send(env, 'GET', '/api/v1/admin/live/history?minutes=1', {
          token: ADMIN_TOKEN,
          base: on.base,
        });
        return h.body.items.some((s: { alerts: { rule: string }[] }) =>
          s.alerts.some((a) => a.rule === 'slow-p95'),
        );
      });

      proxy.delay(0);
      await waitFor(
        'the alert to resolve',
        async () => (await admin('GET', '/api/v1/admin/alerts?state=resolved')).body.items.length === 1,
        15_000,
      );
    } finally {
      reading = false;
      await load;
    }
    const resolved = (await admin('GET', '/api/v1/admin/alerts?state=resolved')).body.items[0];
    expect(resolved).toMatchObject({ id: firingId, rule: 'slow-p95', state: 'RESOLVED' });
    expect(Date.parse(resolved.resolvedAt)).toBeGreaterThan(Date.parse(resolved.startedAt));

    // The webhook was down all along: once up, it gets the firing and the resolution, once each.
    expect(hook.state.attempts).toBeGreaterThan(0);
    expect(hook.state.received).toEqual([]);
    hook.state.down = false;
    await waitFor('both webhook calls', async () => hook.state.received.length === 2, 15_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(hook.state.received.map((r) => [r.type, r.alert.id])).toEqual([
      ['alert.firing', resolved.id],
      ['alert.resolved', resolved.id],
    ]);
  });

  it('refuses bad rules and non-admins with the documented 4xx', async () => {
    const put = putRules;
    for (const body of [
      { rules: [SLOW_RULE, SLOW_RULE] },
      { rules: [{ ...SLOW_RULE, metric: 'http.nope' }] },
      { rules: [{ ...SLOW_RULE, op: undefined }] },
      { rules: [{ id: 'b', kind: 'burn-rate', metric: 'availability', value: 1.5, severity: 'page' }] },
      { rules: [{ ...SLOW_RULE, severity: 'sms' }] },
      { rules: [{ ...SLOW_RULE, forSeconds: 0 }] },
      {},
    ]) {
      const r = await put(body);
      expect([r.status, r.body.code], JSON.stringify(body)).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await put({ rules: [] }, people[0].token)).status).toBe(403);
    expect((await get(env, '/api/v1/admin/alerts?state=nope', ADMIN_TOKEN)).status).toBe(400);
    expect((await get(env, '/api/v1/admin/alerts')).status).toBe(401);
  });
});
