/**
 * Tracing, in process, with an in-memory exporter: a coupon issue's trace shows the request span
 * (continuing the caller's traceparent) → the gate's reserve → the wait for the commit → the group
 * commit's batch span, which links every request it carried; each outbox event keeps its own
 * request's traceparent and its webhook delivery continues that trace. An unsampled request
 * records nothing but still passes its trace id on; with tracing off nothing is recorded and
 * nothing is stored. (The pg and ioredis client spans need the SDK's module hooks, which only a
 * real process has: test/fault/tracing-process.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  createUsers,
  type Mode,
  startTestServer,
  type TestDatabase,
  type TestServer,
  type TestUser,
  until,
} from '../support/harness.js';

const exporter = new InMemorySpanExporter();
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
provider.register();

const agent = new Agent({ connections: 64 });
afterAll(async () => {
  await agent.close();
  await provider.shutdown();
});

const newTraceId = () => randomBytes(16).toString('hex');
const newSpanId = () => randomBytes(8).toString('hex');

async function call(
  base: string,
  method: 'GET' | 'POST',
  path: string,
  token: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const res = await request(`${base}${path}`, {
    method,
    dispatcher: agent,
    headers: {
      authorization: `Bearer ${token}`,
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...opts.headers,
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : null };
}

/** The data platform's stand-in: every event with the traceparent it came with. */
async function webhookSink() {
  const got: { topic: string; userId: string; traceparent: string | undefined }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const e = JSON.parse(body);
      got.push({
        topic: e.topic,
        userId: e.userId,
        traceparent: req.headers.traceparent as string | undefined,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    got,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

const spansOf = (traceId: string) =>
  exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);

for (const mode of ['embedded', 'cluster'] as Mode[]) {
  describe.skipIf(mode === 'cluster' && !clusterAvailable())(`tracing (${mode})`, () => {
    let db: TestDatabase;
    let server: TestServer;
    let sink: Awaited<ReturnType<typeof webhookSink>>;
    let users: TestUser[];
    let couponId: string;

    beforeAll(async () => {
      db = await createDatabaseFor(mode);
      sink = await webhookSink();
      server = await startTestServer(db, {
        tracesExporter: 'otlp',
        dataPlatformUrl: sink.url,
        outboxPollMs: 20,
        // A batch a little wider than one request, so the concurrent issues share batches.
        commitMaxWaitMs: 5,
      });
      users = await createUsers(server.url, 40);
      const c = await call(server.url, 'POST', '/api/v1/admin/coupons', ADMIN_TOKEN, {
        body: { name: 'traced drop', discount: { type: 'AMOUNT', value: 100 }, quantity: 30 },
      });
      expect(c.status).toBe(201);
      couponId = c.body.id;
    });
    afterAll(async () => {
      await server?.close();
      await sink?.close();
      await db?.drop();
    });

    it("shows one issue as request → gate → commit → batch, under the caller's trace", async () => {
      const traceId = newTraceId();
      const callerSpan = newSpanId();
      const r = await call(server.url, 'POST', `/api/v1/coupons/${couponId}/issue`, users[0].token, {
        headers: { traceparent: `00-${traceId}-${callerSpan}-01` },
      });
      expect(r.status).toBe(201);
      const spans = await until('the batch span', () => {
        const s = spansOf(traceId);
        return named(s, 'commit coupon-issue').length ? s : undefined;
      });
      const [req] = named(spans, 'POST /api/v1/coupons/:couponId/issue');
      expect(req, spans.map((s) => s.name).join(', ')).toBeDefined();
      expect(parentOf(req)).toBe(callerSpan);
      const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
      const ancestors = (s: ReadableSpan) => {
        const out: string[] = [];
        for (let p = byId.get(parentOf(s) ?? ''); p; p = byId.get(parentOf(p) ?? '')) out.push(p.name);
        return out;
      };
      const [reserve] = named(spans, 'coupon.reserve');
      expect(reserve.attributes['stampede.gate.outcome']).toBe('RESERVED');
      expect(reserve.attributes['stampede.gate']).toBe(mode === 'cluster' ? 'redis' : 'memory');
      expect(ancestors(reserve)).toContain(req.name);
      const [wait] = named(spans, 'coupon.commit');
      expect(ancestors(wait)).toContain(req.name);
      const [batch] = named(spans, 'commit coupon-issue');
      expect(parentOf(batch)).toBe(wait.spanContext().spanId);
      expect(batch.links.map((l) => l.context.spanId)).toContain(wait.spanContext().spanId);
      expect(batch.attributes['stampede.batch.size']).toBeGreaterThanOrEqual(1);

      // Its coupon.issued event went to the webhook with this trace, from a delivery span in it.
      const sent = await until('the event', () => sink.got.find((e) => e.userId === users[0].id));
      expect(sent.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      const [deliver] = await until('the delivery span', () => {
        const d = named(spansOf(traceId), 'outbox deliver coupon.issued');
        return d.length ? d : undefined;
      });
      expect(sent.traceparent?.split('-')[2]).toBe(deliver.spanContext().spanId);
      expect(parentOf(deliver)).toBe(wait.spanContext().spanId);
    });

    it("links every request a batch carried, and keeps each event on its own request's trace", async () => {
      const batchUsers = users.slice(1, 21);
      const traces = new Map(batchUsers.map((u) => [u.id, newTraceId()]));
      const answers = await Promise.all(
        batchUsers.map((u) =>
          call(server.url, 'POST', `/api/v1/coupons/${couponId}/issue`, u.token, {
            headers: { traceparent: `00-${traces.get(u.id)}-${newSpanId()}-01` },
          }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(batchUsers.map(() => 201));
      const waits = await until("every request's commit span", () => {
        const w = [...traces.values()].map((t) => named(spansOf(t), 'coupon.commit')[0]);
        return w.every(Boolean) ? w : undefined;
      });
      // Every request's wait is linked from the batch that committed it.
      const batches = exporter.getFinishedSpans().filter((s) => s.name === 'commit coupon-issue');
      const linked = new Set(batches.flatMap((b) => b.links.map((l) => l.context.spanId)));
      for (const w of waits) expect(linked).toContain(w.spanContext().spanId);
      // Events: one per user, each under its own user's trace.
      const events = await until('20 events', () => {
        const e = sink.got.filter((g) => traces.has(g.userId));
        return e.length >= 20 ? e : undefined;
      });
      for (const e of events) expect(e.traceparent?.split('-')[1]).toBe(traces.get(e.userId));
    });

    it('records nothing for an unsampled request, yet passes its trace id on', async () => {
      const traceId = newTraceId();
      const u = users[25];
      const r = await call(server.url, 'POST', `/api/v1/coupons/${couponId}/issue`, u.token, {
        headers: { traceparent: `00-${traceId}-${newSpanId()}-00` },
      });
      expect(r.status).toBe(201);
      const sent = await until('the event', () => sink.got.find((e) => e.userId === u.id));
      expect(sent.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
      expect(spansOf(traceId)).toEqual([]);
    });

    it('starts a trace of its own for a request that brings none', async () => {
      const before = new Set(exporter.getFinishedSpans().map((s) => s.spanContext().traceId));
      const u = users[26];
      const r = await call(server.url, 'POST', `/api/v1/coupons/${couponId}/issue`, u.token);
      expect(r.status).toBe(201);
      const sent = await until('the event', () => sink.got.find((e) => e.userId === u.id));
      const traceId = sent.traceparent?.split('-')[1] ?? '';
      expect(before.has(traceId)).toBe(false);
      const spans = await until('its spans', () => {
        const s = spansOf(traceId);
        return named(s, 'coupon.reserve').length ? s : undefined;
      });
      const [req] = named(spans, 'POST /api/v1/coupons/:couponId/issue');
      expect(parentOf(req)).toBeUndefined();
    });
  });
}

describe('tracing off (the default)', () => {
  let db: TestDatabase;
  let server: TestServer;
  let sink: Awaited<ReturnType<typeof webhookSink>>;

  beforeAll(async () => {
    db = await createDatabaseFor('embedded');
    sink = await webhookSink();
    server = await startTestServer(db, { dataPlatformUrl: sink.url, outboxPollMs: 20 });
  });
  afterAll(async () => {
    await server?.close();
    await sink?.close();
    await db?.drop();
  });

  it('records no span and stores no traceparent, even when the caller sends one', async () => {
    const [u] = await createUsers(server.url, 1);
    const c = await call(server.url, 'POST', '/api/v1/admin/coupons', ADMIN_TOKEN, {
      body: { name: 'untraced drop', discount: { type: 'AMOUNT', value: 100 }, quantity: 5 },
    });
    exporter.reset();
    const traceId = newTraceId();
    const r = await call(server.url, 'POST', `/api/v1/coupons/${c.body.id}/issue`, u.token, {
      headers: { traceparent: `00-${traceId}-${newSpanId()}-01` },
    });
    expect(r.status).toBe(201);
    const sent = await until('the event', () => sink.got.find((e) => e.userId === u.id));
    expect(sent.traceparent).toBeUndefined();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
