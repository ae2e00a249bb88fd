/**
 * Tracing in a real server process (cluster mode), as a user turns it on: OTEL_EXPORTER_OTLP_ENDPOINT
 * pointing at a collector (here a stand-in on 127.0.0.1 that reads OTLP/HTTP JSON). One coupon issue
 * sent with a traceparent arrives as one trace: the request span under the caller's, the gate's
 * reserve with its Redis EVALSHA inside, the group commit's batch with its SQL inside, and the
 * coupon.issued event's webhook delivery. pg and ioredis spans appear only under one of ours
 * (requireParentSpan): the background loops' polling makes none.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  ADMIN_TOKEN,
  clusterAvailable,
  createDatabaseFor,
  JWT_SECRET,
  type TestDatabase,
  until,
} from '../support/harness.js';
import { type ServerProcess, spawnServer } from '../support/process.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  scope: string;
  attributes: Record<string, unknown>;
}

/** A collector stand-in (OTLP/HTTP JSON on /v1/traces) and a data-platform webhook, on one port. */
async function collector() {
  const spans: OtlpSpan[] = [];
  const events: { topic: string; userId: string; traceparent?: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const j = JSON.parse(body);
        for (const rs of j.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? [])
            for (const s of ss.spans ?? []) {
              const attributes: Record<string, unknown> = {};
              for (const a of s.attributes ?? []) attributes[a.key] = Object.values(a.value ?? {})[0];
              spans.push({
                traceId: s.traceId,
                spanId: s.spanId,
                parentSpanId: s.parentSpanId || undefined,
                name: s.name,
                scope: ss.scope?.name,
                attributes: { ...attributes, 'service.name': serviceName(rs) },
              });
            }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        return;
      }
      const e = JSON.parse(body);
      events.push({
        topic: e.topic,
        userId: e.userId,
        traceparent: req.headers.traceparent as string | undefined,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    spans,
    events,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function serviceName(rs: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] } }) {
  return rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue;
}

async function call(base: string, method: string, path: string, token: string, body?: unknown, headers = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
  const json: any = await res.json();
  return { status: res.status, body: json };
}

describe.skipIf(!clusterAvailable())('tracing in a server process (cluster, OTLP)', () => {
  let db: TestDatabase;
  let sink: Awaited<ReturnType<typeof collector>>;
  let proc: ServerProcess;

  beforeAll(async () => {
    db = await createDatabaseFor('cluster');
    sink = await collector();
    proc = await spawnServer({
      DATABASE_URL: db.url,
      REDIS_URL: inject('redisUrl'),
      REDIS_PREFIX: db.redisPrefix,
      ADMIN_TOKEN,
      JWT_SECRET,
      OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
      OTEL_SERVICE_NAME: 'stampede-under-test',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      DATA_PLATFORM_URL: `${sink.url}/events`,
      OUTBOX_POLL_MS: '50',
    });
  });
  afterAll(async () => {
    if (proc?.running()) await proc.kill('SIGKILL');
    await sink?.close();
    await db?.drop();
  });

  it('sends one issue as one trace: request → gate (EVALSHA) → batch (SQL) → delivery', async () => {
    const coupon = await call(proc.url, 'POST', '/api/v1/admin/coupons', ADMIN_TOKEN, {
      name: 'traced',
      discount: { type: 'AMOUNT', value: 100 },
      quantity: 5,
    });
    expect(coupon.status).toBe(201);
    const bulk = await call(proc.url, 'POST', '/api/v1/admin/users/bulk', ADMIN_TOKEN, { count: 1 });
    const [user] = bulk.body.users;
    const traceId = randomBytes(16).toString('hex');
    const caller = randomBytes(8).toString('hex');
    const r = await call(proc.url, 'POST', `/api/v1/coupons/${coupon.body.id}/issue`, user.token, undefined, {
      traceparent: `00-${traceId}-${caller}-01`,
    });
    expect(r.status).toBe(201);

    const spans = await until(
      'the trace',
      () => {
        const t = sink.spans.filter((s) => s.traceId === traceId);
        return t.some((s) => s.name.startsWith('outbox deliver')) && t.some((s) => s.scope.endsWith('pg'))
          ? t
          : undefined;
      },
      20_000,
    );
    const one = (pred: (s: OtlpSpan) => boolean, what: string) => {
      const found = spans.filter(pred);
      expect(found.length, `${what} in ${spans.map((s) => s.name).join(', ')}`).toBeGreaterThan(0);
      return found[0];
    };
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const under = (s: OtlpSpan, ancestor: OtlpSpan) => {
      for (let p = byId.get(s.parentSpanId ?? ''); p; p = byId.get(p.parentSpanId ?? ''))
        if (p === ancestor) return true;
      return false;
    };

    const req = one((s) => s.name === 'POST /api/v1/coupons/:couponId/issue', 'the request span');
    expect(req.parentSpanId).toBe(caller);
    expect(req.attributes['service.name']).toBe('stampede-under-test');
    const reserve = one((s) => s.name === 'coupon.reserve', 'the gate span');
    expect(under(reserve, req)).toBe(true);
    expect(reserve.attributes['stampede.gate.outcome']).toBe('RESERVED');
    const evalsha = one(
      (s) => s.scope.endsWith('ioredis') && s.parentSpanId === reserve.spanId,
      'EVALSHA under the gate',
    );
    expect(evalsha.name).toBe('evalsha');
    const batch = one((s) => s.name === 'commit coupon-issue', 'the batch span');
    expect(under(batch, req)).toBe(true);
    const sql = spans.filter((s) => s.scope.endsWith('pg') && under(s, batch));
    expect(sql.map((s) => s.name)).toContain(`pg.query:SELECT ${db.url.split('/').pop()}`);
    const deliver = one((s) => s.name === 'outbox deliver coupon.issued', 'the delivery span');
    expect(deliver.attributes['stampede.event.topic']).toBe('coupon.issued');
    const event = await until('the event', () => sink.events.find((e) => e.userId === user.id), 20_000);
    expect(event.traceparent).toBe(`00-${traceId}-${deliver.spanId}-01`);

    // Client spans only under ours: none of the background loops' queries made a root span.
    await new Promise((r) => setTimeout(r, 500));
    const orphans = sink.spans.filter((s) => /pg|ioredis/.test(s.scope) && !s.parentSpanId);
    expect(orphans).toEqual([]);
  });

  it('flushes and stops cleanly on SIGTERM', async () => {
    expect(await proc.kill('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
