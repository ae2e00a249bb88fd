import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Cluster, Redis } from 'ioredis';

const LUA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lua');

/** Script name -> `redis.<name>(...keys, ...args)` after `loadScripts`. */
export interface ScriptCommands {
  reserveUnit(k1: string, k2: string, k3: string, claimant: string, nowMs: number): Promise<number>;
  settleUnit(k1: string, k2: string, k3: string, claimant: string, outcome: string): Promise<number>;
  stageHolders(k1: string, ...claimants: string[]): Promise<number>;
  loadUnits(k1: string, k2: string, k3: string, k4: string, remaining: number): Promise<number>;
  resyncUnits(k1: string, k2: string, k3: string, ...args: (string | number)[]): Promise<number[]>;
  releaseLock(k1: string, token: string): Promise<number>;
  addToWindow(k1: string, count: number, windowMs: number): Promise<[number, number]>;
  holdLease(k1: string, token: string, ttlMs: number): Promise<number>;
  rankOrder(
    k1: string,
    k2: string,
    orderId: string,
    ttlSeconds: number,
    ...pairs: (string | number)[]
  ): Promise<number>;
  roomJoin(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    k6: string,
    userId: string,
    nowMs: number,
    opened: '1' | '0',
  ): Promise<[0] | [1 | 2, string, number]>;
  roomGet(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    userId: string,
    nowMs: number,
    heartbeat: '1' | '0',
  ): Promise<[0] | [1] | [2, string, number]>;
  roomRemove(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    k6: string,
    userId: string,
  ): Promise<[0] | [1, string]>;
  /** ioredis flattens array arguments: `userIds` may be long without spreading. */
  roomOpen(k1: string, k2: string, k3: string, k4: string, k5: string, userIds: string[]): Promise<number[]>;
  roomTick(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    k6: string,
    nowMs: number,
    idleBeforeMs: number,
    maxActive: number | '',
    admitMax: number,
    scanLimit: number,
  ): Promise<[0] | [1, string[], string[], string[]]>;
  roomAdmit(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    nowMs: number,
    passExpiresAtMs: number,
    userIds: string[],
  ): Promise<number[]>;
  roomComplete(k1: string, k2: string, k3: string, userId: string): Promise<number>;
  roomCounts(k1: string, k2: string, k3: string, k4: string): Promise<[0] | [1, number, number, number]>;
  /** `fields`: six per entry (see roomStage-5.lua), flattened by ioredis. */
  roomStage(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    nowMs: number,
    fields: (string | number)[],
  ): Promise<number>;
  /** Seat gate (src/modules/concerts/redis-seat-gate.ts); `seats` flattened by ioredis. */
  seatCheck(
    k1: string,
    k2: string,
    k3: string,
    claimant: string,
    nowMs: number,
    limit: number,
    seats: number[],
  ): Promise<number[]>;
  seatSettle(
    k1: string,
    k2: string,
    k3: string,
    claimant: string,
    outcome: string,
    untilMs: number,
    nowMs: number,
    seats: number[],
  ): Promise<number>;
  /** `triples`: seat, claimant, until ms or 'sold', per taken seat. */
  seatLoad(k1: string, k2: string, k3: string, triples: (string | number)[]): Promise<number>;
  roomLoad(
    k1: string,
    k2: string,
    k3: string,
    k4: string,
    k5: string,
    k6: string,
    k7: string,
    k8: string,
    k9: string,
    k10: string,
    k11: string,
    k12: string,
    lastSeq: number,
  ): Promise<number>;
}

/**
 * The command client modules use (scripts loaded). Typed as what one server and a Redis Cluster
 * have in common, so infra can hand out an ioredis `Cluster` (every script's keys share a hash
 * tag, hence one slot) without a module changing.
 */
export type RedisClient = (Redis | Cluster) & ScriptCommands;

/** A connection of its own for SUBSCRIBE (a subscribed connection can run no other command). */
export type RedisSubscriber = Redis;

/**
 * Registers every `lua/<name>-<numberOfKeys>.lua` file as a command (EVALSHA with EVAL fallback,
 * the BullMQ way). Scripts are read once at start, never built at run time.
 */
export function loadScripts(redis: Redis | Cluster): RedisClient {
  for (const file of readdirSync(LUA_DIR)) {
    const m = /^(\w+)-(\d+)\.lua$/.exec(file);
    if (!m) continue;
    redis.defineCommand(m[1], {
      numberOfKeys: Number(m[2]),
      lua: readFileSync(path.join(LUA_DIR, file), 'utf8'),
    });
  }
  return redis as RedisClient;
}

/**
 * A client that fails fast when Redis is away instead of queueing: the caller's circuit breaker
 * decides to fall back to PostgreSQL, and a request never hangs on a dead Redis.
 */
export function createRedis(url: string): RedisClient {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    connectTimeout: 2_000,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
  // Connection errors are reported through the breaker and /readyz; don't crash on them.
  redis.on('error', () => {});
  return loadScripts(redis);
}

/**
 * A subscriber connection: it queues SUBSCRIBE while disconnected and re-subscribes on reconnect
 * (ioredis does both), so fan-out resumes by itself after an outage.
 */
export function createRedisSubscriber(url: string): RedisSubscriber {
  const redis = new Redis(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 100, 1_000),
  });
  redis.on('error', () => {});
  return redis;
}
