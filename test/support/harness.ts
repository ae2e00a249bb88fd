/**
 * Test servers over real sockets, in either mode, each on its own database (and Redis prefix).
 *   embedded: the run's embedded PostgreSQL + the in-process gate
 *   cluster:  the machine's PostgreSQL (127.0.0.1:5432) + Redis + the Redis gate
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Agent, request } from 'undici';
import { inject } from 'vitest';
import { buildApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createRuntime, type Runtime } from '../../src/runtime.js';
import { createTestDatabase } from './db.js';
import { deletePrefix, randomPrefix } from './redis.js';

export type Mode = 'embedded' | 'cluster';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const JWT_SECRET = 'test-jwt-secret-0123456789-0123456789-abcdef';

export interface TestServer {
  url: string;
  app: FastifyInstance;
  runtime: Runtime;
  config: Config;
  databaseUrl: string;
  redisPrefix: string;
  close(): Promise<void>;
}

export interface TestDatabase {
  mode: Mode;
  url: string;
  redisPrefix: string;
  drop(): Promise<void>;
}

/** Skips (laptop) or fails (CI, checked in global setup) when a cluster test has no Redis. */
export function clusterAvailable(): boolean {
  return inject('redisAvailable');
}

export async function createDatabaseFor(mode: Mode): Promise<TestDatabase> {
  const server = mode === 'embedded' ? inject('embeddedPgUrl') : inject('clusterPgUrl');
  const db = await createTestDatabase(server);
  const redisPrefix = randomPrefix();
  return {
    mode,
    url: db.url,
    redisPrefix,
    async drop() {
      await db.drop();
      if (mode === 'cluster') await deletePrefix(inject('redisUrl'), redisPrefix);
    },
  };
}

/** Config as the server would read it from the environment, for the given mode and database. */
export function testConfig(db: TestDatabase, overrides: Partial<Config> = {}): Config {
  const env: Record<string, string> = { ADMIN_TOKEN, JWT_SECRET, LOG_LEVEL: 'silent', PORT: '0' };
  if (db.mode === 'cluster') {
    env.DATABASE_URL = db.url;
    env.REDIS_URL = inject('redisUrl');
  }
  const base = loadConfig(env);
  return {
    ...base,
    dataDir: mkdtempSync(path.join(os.tmpdir(), 'stampede-data-')),
    databaseUrl: db.url,
    redisPrefix: db.redisPrefix,
    // The machine's PostgreSQL allows 100 connections and two test files run at once, each with
    // several servers: keep every pool small.
    pgPoolMax: 6,
    // Suites storm thousands of users from 127.0.0.1: limits out of reach, still counted on every
    // request. test/integration/rate-limit.test.ts sets its own.
    rateLimitUserPerMinute: 1_000_000_000,
    rateLimitIpPerMinute: 1_000_000_000,
    ...overrides,
  };
}

/** Starts a server in this process on a free loopback port. */
export async function startTestServer(
  db: TestDatabase,
  overrides: Partial<Config> = {},
): Promise<TestServer> {
  const config = testConfig(db, overrides);
  const runtime = await createRuntime(config);
  const app = await buildApp(runtime);
  await app.listen({ port: 0, host: '127.0.0.1' });
  runtime.lifecycle.state = 'ready';
  void runtime.startBackground();
  const addr = app.server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${addr.port}`,
    app,
    runtime,
    config,
    databaseUrl: db.url,
    redisPrefix: db.redisPrefix,
    async close() {
      runtime.lifecycle.state = 'draining';
      await app.close();
      await runtime.close();
    },
  };
}

/** A keep-alive HTTP client with enough connections for thousands of concurrent requests. */
export function httpClient(connections = 256) {
  const agent = new Agent({ connections, pipelining: 1, keepAliveTimeout: 10_000 });
  async function call(method: 'GET' | 'POST', url: string, opts: { token?: string; body?: unknown } = {}) {
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(url, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      dispatcher: agent,
    });
    const text = await res.body.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    // biome-ignore lint/suspicious/noExplicitAny: test responses are asserted field by field
    const body = json as any;
    return { status: res.statusCode, headers: res.headers, body };
  }
  return { call, close: () => agent.close() };
}

export interface TestUser {
  id: string;
  name: string;
  token: string;
}

/** Creates users through the admin bulk endpoint. */
export async function createUsers(baseUrl: string, count: number): Promise<TestUser[]> {
  const client = httpClient(4);
  const out: TestUser[] = [];
  try {
    for (let left = count; left > 0; left -= 10_000) {
      const res = await client.call('POST', `${baseUrl}/api/v1/admin/users/bulk`, {
        token: ADMIN_TOKEN,
        body: { count: Math.min(left, 10_000) },
      });
      if (res.status !== 201) throw new Error(`bulk users: ${res.status} ${JSON.stringify(res.body)}`);
      out.push(...res.body.users);
    }
    return out;
  } finally {
    await client.close();
  }
}

/** Polls `fn` every `everyMs` until it returns something other than undefined; fails after `ms`. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 15_000,
  everyMs = 25,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
