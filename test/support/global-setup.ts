/**
 * Once per test run: start one embedded PostgreSQL (embedded-mode tests create their own database
 * in it) and check that the shared Redis is reachable. In CI (CI=true) a missing Redis fails the
 * run loudly; on a laptop Redis-backed tests skip with a printed warning.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/infra/postgres/embedded.js';

declare module 'vitest' {
  export interface ProvidedContext {
    embeddedPgUrl: string;
    clusterPgUrl: string;
    redisUrl: string;
    redisAvailable: boolean;
  }
}

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLUSTER_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function redisReachable(): Promise<boolean> {
  const r = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stampede-test-pg-'));
  const pg = await startEmbeddedPostgres(dir);
  const redisAvailable = await redisReachable();
  if (!redisAvailable) {
    if (process.env.CI === 'true') {
      throw new Error(`Redis is not reachable at ${REDIS_URL}; CI must run the Redis-backed tests.`);
    }
    console.warn(
      `\n!!! Redis not reachable at ${REDIS_URL}: Redis-backed tests will be SKIPPED (set CI=true to fail instead)\n`,
    );
  }
  project.provide('embeddedPgUrl', pg.url);
  project.provide('clusterPgUrl', CLUSTER_PG_URL);
  project.provide('redisUrl', REDIS_URL);
  project.provide('redisAvailable', redisAvailable);
  return async () => {
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
