/**
 * The app hosts long-lived responses cleanly: access control holds on SSE routes and WebSocket
 * upgrades (token in the header or ?access_token=), a drain ends open streams with a final event
 * instead of hanging, streams are not counted as request latency, a route without a declared
 * access cannot be mounted, and /readyz reports every module's health. Real sockets throughout.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildApp } from '../../src/app.js';
import { userOf } from '../../src/http/auth.js';
import type { Infra } from '../../src/infra/index.js';
import { Metrics } from '../../src/infra/metrics.js';
import { Auth } from '../../src/infra/tokens.js';
import { compose } from '../../src/kernel/compose.js';
import type { AnyModuleDefinition } from '../../src/kernel/module.js';
import {
  createDatabaseFor,
  startTestServer,
  type TestDatabase,
  type TestServer,
} from '../support/harness.js';

const SECRET = 'hosting-test-secret-hosting-test-secret-0123';
const ADMIN = 'hosting-test-admin-token';

/** A module of the test's own, mounted like any other: one SSE route, one WebSocket route. */
const probeRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/probe/events', { config: { access: 'user', tokenInQuery: true, stream: true } }, (req, reply) => {
    const stream = app.streams.start(req, reply);
    stream.send({ event: 'hello', data: { user: userOf(req).id }, id: 1 });
  });
  app.get('/probe/ws', { config: { access: 'user', tokenInQuery: true }, websocket: true }, (socket, req) => {
    socket.send(JSON.stringify({ type: 'hello', user: userOf(req).id }));
  });
};

const probe = {
  name: 'probe',
  infra: ['metrics'],
  dependsOn: [],
  prefix: '/api/v1',
  create: () => ({ service: null, routes: probeRoutes }),
} as unknown as AnyModuleDefinition;

async function startProbeApp(): Promise<{ app: FastifyInstance; url: string; metrics: Metrics; auth: Auth }> {
  const metrics = new Metrics();
  const auth = new Auth(SECRET, ADMIN);
  const composition = await compose([probe], { metrics } as unknown as Infra);
  const app = await buildApp({
    config: { bodyLimit: 1_048_576 },
    metrics,
    tokens: auth,
    modules: composition.modules,
    readiness: async () => ({ ready: true, body: { status: 'ready', mode: 'test', checks: {} } }),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, metrics, auth };
}

/** Reads an SSE response until `until` has been seen or the stream ends; returns the text. */
async function readStream(body: AsyncIterable<Buffer>, until: RegExp): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += chunk.toString('utf8');
    if (until.test(text)) break;
  }
  return text;
}

describe('hosting long-lived responses', () => {
  let probeApp: Awaited<ReturnType<typeof startProbeApp>>;
  let token: string;

  beforeAll(async () => {
    probeApp = await startProbeApp();
    token = await probeApp.auth.sign({ id: '42', name: 'ann' });
  });
  afterAll(async () => {
    await probeApp?.app.close();
  });

  it('authenticates an SSE stream by header or ?access_token=, and refuses one without a token', async () => {
    const { url } = probeApp;
    const none = await request(`${url}/api/v1/probe/events`);
    expect(none.statusCode).toBe(401);
    expect(none.headers['content-type']).toMatch(/application\/problem\+json/);
    expect((await none.body.json()) as { code: string }).toMatchObject({ code: 'UNAUTHENTICATED' });

    const admin = await request(`${url}/api/v1/probe/events?access_token=${ADMIN}`);
    expect(admin.statusCode).toBe(403);
    await admin.body.dump();

    for (const res of [
      await request(`${url}/api/v1/probe/events`, { headers: { authorization: `Bearer ${token}` } }),
      await request(`${url}/api/v1/probe/events?access_token=${encodeURIComponent(token)}`),
    ]) {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(res.headers['x-accel-buffering']).toBe('no');
      const text = await readStream(res.body, /event: hello/);
      expect(text).toContain('id: 1\nevent: hello\ndata: {"user":"42"}');
      res.body.destroy();
    }
  });

  it('authenticates a WebSocket upgrade before upgrading: no token gets 401 and no socket', async () => {
    const wsUrl = probeApp.url.replace('http:', 'ws:');
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}/api/v1/probe/ws`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('upgraded without a token')));
      ws.on('error', () => {});
    });
    expect(refused).toBe(401);

    const hello = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`${wsUrl}/api/v1/probe/ws?access_token=${encodeURIComponent(token)}`);
      ws.on('message', (m) => {
        resolve(String(m));
        ws.close();
      });
      ws.on('error', reject);
    });
    expect(JSON.parse(hello)).toEqual({ type: 'hello', user: '42' });
  });

  it('ends open streams and sockets with a final event when the app closes, instead of hanging', async () => {
    const own = await startProbeApp();
    const t = await own.auth.sign({ id: '7', name: 'bo' });
    const streams = await Promise.all(
      Array.from({ length: 20 }, () =>
        request(`${own.url}/api/v1/probe/events`, { headers: { authorization: `Bearer ${t}` } }),
      ),
    );
    for (const s of streams) expect(s.statusCode).toBe(200);
    const reads = streams.map((s) => readStream(s.body, /event: shutdown/));
    const ws = new WebSocket(`${own.url.replace('http:', 'ws:')}/api/v1/probe/ws?access_token=${t}`);
    const wsClosed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.on('message', resolve));
    expect(own.app.streams.size).toBe(20);

    const started = Date.now();
    await own.app.close();
    expect(Date.now() - started).toBeLessThan(10_000);
    for (const text of await Promise.all(reads)) expect(text).toMatch(/event: shutdown\ndata: /);
    expect(await wsClosed).toBe(1001);
    expect(own.app.streams.size).toBe(0);
  });

  it('does not record a stream as request latency, and counts it as an open stream while it is open', async () => {
    const { url, metrics } = probeApp;
    const res = await request(`${url}/api/v1/probe/events`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await readStream(res.body, /event: hello/);
    expect(await metrics.registry.getSingleMetricAsString('stampede_open_streams')).toMatch(
      /stampede_open_streams [1-9]/,
    );
    res.body.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const latency = await metrics.registry.getSingleMetricAsString('http_request_duration_seconds');
    expect(latency).not.toContain('/api/v1/probe/events');
  });

  it('refuses to mount a route under /api that does not declare who may call it', async () => {
    const undeclared = {
      ...probe,
      create: () => ({
        service: null,
        routes: (async (app) => {
          app.get('/oops', async () => ({}));
        }) as FastifyPluginAsyncTypebox,
      }),
    } as unknown as AnyModuleDefinition;
    const metrics = new Metrics();
    const composition = await compose([undeclared], { metrics } as unknown as Infra);
    await expect(
      buildApp({
        config: { bodyLimit: 1024 },
        metrics,
        tokens: new Auth(SECRET, ADMIN),
        modules: composition.modules,
        readiness: async () => ({ ready: true, body: { status: 'ready', mode: 'test', checks: {} } }),
      }),
    ).rejects.toThrow(/declares no config.access/);
  });
});

describe('readiness', () => {
  let db: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    server = await startTestServer(db);
  });
  afterAll(async () => {
    await server?.close();
    await db?.drop();
  });

  it("reports PostgreSQL and every module's health check", async () => {
    await server.runtime.startBackground(); // resolves once every module's background work started
    const res = await server.app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.status).toBe('ready');
    expect(body.checks.postgres).toEqual({ status: 'up' });
    expect(body.checks.coupons).toEqual({ status: 'up', detail: 'memory gate, breaker closed' });
    expect(body.checks.catalog).toEqual({ status: 'up', detail: 'memory read cache, breaker closed' });
    expect(body.checks.outbox).toMatchObject({
      status: 'up',
      detail: expect.stringMatching(/^relay running/),
    });
  });

  it('answers 503 while draining', async () => {
    server.runtime.lifecycle.state = 'draining';
    try {
      const res = await server.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json().status).toBe('draining');
    } finally {
      server.runtime.lifecycle.state = 'ready';
    }
  });
});
