/**
 * Rate limits on every /api route (/healthz, /readyz, /metrics and /docs are never limited): a fixed one-minute window per client address on every such
 * route, and one per user on user routes (counters: rate-limit-counters.ts). Over either limit the
 * request is refused with 429 RATE_LIMITED (problem+json) and `Retry-After` in seconds, before its
 * body is read.
 *
 * Where the counters live: in this process (a bounded map) when no Redis client is given (embedded
 * mode); otherwise (cluster mode) counted in the process and shared through Redis under
 * `<REDIS_PREFIX>ratelimit:user:<user id>` and `<REDIS_PREFIX>ratelimit:addr:<address>`
 * every 100 ms (no Redis round trip per request; every process shares one budget, within a bound
 * rate-limit-counters.ts states). When Redis fails each process limits on its own counts;
 * a limiter outage never refuses traffic on its own.
 *
 * Exemptions are configuration, never implicit: admin routes (RATE_LIMIT_EXEMPT_ADMIN, on by
 * default) and loopback clients (RATE_LIMIT_ALLOW_LOOPBACK, off by default). Both, and the limits
 * in force, are logged once at start.
 */
import { BlockList, isIP, isIPv6 } from 'node:net';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Config, RATE_LIMIT_DEFAULTS } from '../config.js';
import type { RedisClient } from '../infra/redis/client.js';
import { appError } from './errors.js';
import { LocalCounters, SyncedCounters, type WindowCounters } from './rate-limit-counters.js';

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
/** Cluster mode: a key is shared through Redis once one process counted this share of its limit. */
const SHARE_FROM = 0.1;
/** Counters one process keeps (per limiter) in embedded mode; beyond it the oldest window goes first. */
const LOCAL_ENTRIES = 100_000;

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
 * The key an address is counted under: IPv4 as is (an IPv4-mapped IPv6 address as its IPv4), IPv6
 * by its /64 network (one host is usually given a whole /64, so counting addresses would let a
 * client rotate through them).
 */
export function addressKey(address: string): string {
  if (!isIPv6(address)) return address.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  // Expand to eight groups, then keep the first four.
  const [head, tail = ''] = address.toLowerCase().split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = address.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
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
  const counters = (name: string, max: number): WindowCounters =>
    parts.redis
      ? new SyncedCounters({
          redis: parts.redis,
          namespace: `${c.redisPrefix}ratelimit:${name}:`,
          log: app.log,
          shareFrom: Math.ceil(max * SHARE_FROM),
        })
      : new LocalCounters(LOCAL_ENTRIES);
  const byAddress = counters('addr', c.rateLimitIpPerMinute);
  const byUser = counters('user', c.rateLimitUserPerMinute);
  app.addHook('onClose', async () => {
    await Promise.all([byAddress.close(), byUser.close()]);
  });
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

  app.addHook('onRequest', async (request, reply) => {
    if (!request.routeOptions.url?.startsWith('/api/')) return; // operations, docs, no route
    const { access } = request.routeOptions.config;
    if (access === 'admin' && c.rateLimitExemptAdmin) return;
    const address = clientAddress(request, trusted);
    if (c.rateLimitAllowLoopback && inRanges(LOOPBACK, address)) return;

    let refusal: { who: string; max: number; seconds: number } | null = null;
    const a = byAddress.incr(addressKey(address), WINDOW_MS);
    if (a.current > c.rateLimitIpPerMinute) {
      refusal = {
        who: 'this address',
        max: c.rateLimitIpPerMinute,
        seconds: Math.max(1, Math.ceil(a.ttlMs / 1000)),
      };
    }
    // The user's budget, for requests the access hook authenticated.
    if (request.user) {
      const u = byUser.incr(request.user.id, WINDOW_MS);
      const seconds = Math.max(1, Math.ceil(u.ttlMs / 1000));
      if (u.current > c.rateLimitUserPerMinute && (!refusal || seconds > refusal.seconds)) {
        refusal = { who: 'this user', max: c.rateLimitUserPerMinute, seconds };
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
