/**
 * Rate limits on every /api route (/healthz, /readyz, /metrics and /docs are never limited): a fixed one-minute window per client address on every such
 * route, and one per user on user routes, counted by @fastify/rate-limit. Over either limit the
 * request is refused with 429 RATE_LIMITED (problem+json) and `Retry-After` in seconds, before its
 * body is read.
 *
 * Where the counters live: in this process (an LRU map) when no Redis client is given (embedded
 * mode); in Redis under `<REDIS_PREFIX>ratelimit:user:<user id>` and
 * `<REDIS_PREFIX>ratelimit:addr:<address>` otherwise (cluster mode), so every process shares one
 * budget. When Redis fails, requests are not limited (fail open): a limiter outage never refuses
 * traffic on its own.
 *
 * Exemptions are configuration, never implicit: admin routes (RATE_LIMIT_EXEMPT_ADMIN, on by
 * default) and loopback clients (RATE_LIMIT_ALLOW_LOOPBACK, off by default). Both, and the limits
 * in force, are logged once at start.
 */
import { BlockList, isIP } from 'node:net';
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Config, RATE_LIMIT_DEFAULTS } from '../config.js';
import type { RedisClient } from '../infra/redis/client.js';
import { appError } from './errors.js';

/** The settings the limiter reads; a missing one takes its default (RATE_LIMIT_DEFAULTS). */
export type RateLimitSettings = Pick<
  Config,
  | 'rateLimitEnabled'
  | 'rateLimitUserPerMinute'
  | 'rateLimitIpPerMinute'
  | 'rateLimitExemptAdmin'
  | 'rateLimitAllowLoopback'
  | 'rateLimitTrustedProxies'
  | 'redisPrefix'
>;

export interface RateLimitParts {
  config: Partial<RateLimitSettings>;
  /** Cluster mode's command client: counters shared by every process. Null: in-process counters. */
  redis: RedisClient | null;
}

const WINDOW_MS = 60_000;
/** Counters one process keeps (per limiter) in embedded mode; the least recently used go first. */
const LOCAL_ENTRIES = 100_000;
/** At most one "failing open" warning per this many ms. */
const WARN_EVERY_MS = 10_000;

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;
type Outcome = Awaited<ReturnType<Limiter>>;

/** The address ranges of `list` (IP addresses and CIDR ranges, as config.ts validated them). */
export function addressRanges(list: readonly string[]): BlockList {
  const ranges = new BlockList();
  for (const entry of list) {
    const [address, bits] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) ranges.addAddress(address, family);
    else ranges.addSubnet(address, Number(bits), family);
  }
  return ranges;
}

function inRanges(ranges: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && ranges.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

const LOOPBACK = addressRanges(['127.0.0.0/8', '::1']);

/**
 * The client's address: the TCP peer, unless the peer is a trusted proxy, in which case it is the
 * right-most X-Forwarded-For hop that is not itself a trusted proxy. Without trusted proxies the
 * header is ignored (any client could write it).
 */
export function clientAddress(request: FastifyRequest, trusted: BlockList | null): string {
  const peer = request.ip ?? '';
  if (!trusted || !inRanges(trusted, peer)) return peer;
  const header = request.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
  let address = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i].trim();
    if (!isIP(hop)) break; // a proxy we trust wrote no usable address: the last good hop is the client
    address = hop;
    if (!inRanges(trusted, hop)) break;
  }
  return address;
}

/**
 * One limiter (fixed window, `max` per minute per key) over its own store: an encapsulated
 * registration of @fastify/rate-limit that adds no hook of its own (`global: false`).
 */
async function limiter(
  app: FastifyInstance,
  max: number,
  name: string,
  keyOf: (request: FastifyRequest) => string,
  settings: { redis: RedisClient | null; prefix: string },
): Promise<Limiter> {
  let made: Limiter | undefined;
  await app.register(async (scope) => {
    await scope.register(rateLimit, {
      global: false,
      max,
      timeWindow: WINDOW_MS,
      keyGenerator: keyOf,
      // A Redis error lets the request through (fail open) instead of answering 500.
      skipOnError: true,
      ...(settings.redis
        ? { redis: settings.redis, nameSpace: `${settings.prefix}ratelimit:${name}:` }
        : { cache: LOCAL_ENTRIES }),
    });
    made = scope.createRateLimit();
  });
  if (!made) throw new Error('unreachable: the rate limiter registered without a limiter');
  return made;
}

/** A store that failed answers as if nothing had been counted: no request of a window counts 0. */
function failedOpen(outcome: Outcome): boolean {
  return !outcome.isAllowed && outcome.ttl === 0 && outcome.remaining === outcome.max;
}

/**
 * Installs the limits. Call it right after installAccessControl: its onRequest hook must run after
 * the access hook, which sets `request.user`. A request the access hook refuses (401/403) is
 * answered before it is counted.
 */
export async function installRateLimits(app: FastifyInstance, parts: RateLimitParts): Promise<void> {
  const c = { ...RATE_LIMIT_DEFAULTS, redisPrefix: 'stampede:', ...parts.config };
  if (!c.rateLimitEnabled) {
    app.log.warn('rate limits are off (RATE_LIMIT_ENABLED=false): no request is limited');
    return;
  }
  const trusted = c.rateLimitTrustedProxies.length > 0 ? addressRanges(c.rateLimitTrustedProxies) : null;
  const store = { redis: parts.redis, prefix: c.redisPrefix };
  const byAddress = await limiter(
    app,
    c.rateLimitIpPerMinute,
    'addr',
    (request) => normalizeIP(clientAddress(request, trusted)),
    store,
  );
  const byUser = await limiter(
    app,
    c.rateLimitUserPerMinute,
    'user',
    // Only asked for requests the access hook authenticated.
    (request) => request.user?.id ?? '',
    store,
  );
  app.log.info(
    {
      userPerMinute: c.rateLimitUserPerMinute,
      addressPerMinute: c.rateLimitIpPerMinute,
      store: parts.redis ? 'redis' : 'memory',
      adminExempt: c.rateLimitExemptAdmin,
      loopbackExempt: c.rateLimitAllowLoopback,
      trustedProxies: c.rateLimitTrustedProxies,
    },
    `rate limits: ${c.rateLimitUserPerMinute}/min per user, ${c.rateLimitIpPerMinute}/min per address` +
      `${c.rateLimitExemptAdmin ? '; admin routes exempt (RATE_LIMIT_EXEMPT_ADMIN)' : ''}` +
      `${c.rateLimitAllowLoopback ? '; loopback clients exempt (RATE_LIMIT_ALLOW_LOOPBACK)' : ''}`,
  );

  let lastWarning = 0;
  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.url?.startsWith('/api/')) return; // operations, docs, no route
    const { access } = request.routeOptions.config;
    if (access === 'admin' && c.rateLimitExemptAdmin) return;
    if (c.rateLimitAllowLoopback && inRanges(LOOPBACK, clientAddress(request, trusted))) return;

    const outcomes = await Promise.all(
      request.user ? [byAddress(request), byUser(request)] : [byAddress(request)],
    );
    if (outcomes.some(failedOpen) && Date.now() - lastWarning > WARN_EVERY_MS) {
      lastWarning = Date.now();
      app.log.warn('rate-limit store unavailable (Redis): requests are not limited until it answers');
    }
    let refusal: { who: string; max: number; seconds: number } | null = null;
    for (const [i, o] of outcomes.entries()) {
      if (o.isAllowed || !o.isExceeded) continue;
      const seconds = Math.max(1, o.ttlInSeconds);
      if (!refusal || seconds > refusal.seconds) {
        refusal = { who: i === 0 ? 'this address' : 'this user', max: o.max, seconds };
      }
    }
    if (!refusal) return;
    // A refused WebSocket upgrade holds a raw socket no HTTP keep-alive logic will reclaim: close it.
    if (request.raw.headers.upgrade) {
      reply.header('connection', 'close');
      reply.raw.once('finish', () => request.raw.socket.destroySoon());
    }
    throw appError(
      'RATE_LIMITED',
      `more than ${refusal.max} requests a minute from ${refusal.who}; retry in ${refusal.seconds} s`,
      { 'retry-after': String(refusal.seconds) },
    );
  });
}
