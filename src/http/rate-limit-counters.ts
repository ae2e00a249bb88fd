/**
 * The rate limiter's counters: fixed windows per key, counted synchronously on the request path
 * (no promise, no round trip), in two implementations:
 *
 *   LocalCounters   embedded mode: this process's counts, in a bounded map
 *   SyncedCounters  cluster mode: counted in the process, shared through Redis a few times a second
 *
 * Why not @fastify/rate-limit (used before): its per-request path (async key generator, a promise
 * around the store, header bookkeeping) cost tens of µs of CPU per request in process, and its
 * Redis store one round trip per request and limiter; together they doubled the server CPU of a
 * sold-out answer in cluster mode (docs/benchmarks.md).
 *
 * SyncedCounters. Windows are fixed, per key: one starts with the key's first request in any
 * process and lasts W. A request is counted locally at once. A key is shared only once it counts
 * `shareFrom` requests in this process (10 % of the limit): the many clients far below their budget
 * (in a drop, nearly all of them) cost Redis nothing. From then on, every `syncMs` each counter with
 * new requests adds them to the shared counter `<namespace><key>` in one script (addToWindow-1.lua),
 * which answers the total of every process and when the shared window ends; the process then knows
 * that total plus what it counted since, and adopts the shared window's end.
 *
 * What this promises, and its bound: a key is refused once the total this process knows exceeds
 * `max`. Requests another process counted since its last sync are not known yet, so a key spread
 * over P processes may pass `max` by at most (P − 1) × `shareFrom` (counts not shared yet), plus
 * what P − 1 processes accept in about 2 × `syncMs`, plus one request per process that had not
 * seen the key since its last sync (it judges on what it knew). One process alone is exact. When Redis is unreachable each process goes on limiting with what it knows and retries
 * the sync: limits get looser by the number of processes, never lost, and nothing is refused
 * because of the outage.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '../infra/redis/client.js';

/** A request counted: requests in its key's window so far (this one included), ms until it ends. */
export interface Count {
  current: number;
  ttlMs: number;
}

export interface WindowCounters {
  /** Counts one request of `key` in its window of `windowMs`. */
  incr(key: string, windowMs: number): Count;
  close(): Promise<void>;
}

/**
 * This process's counts. At most `maxKeys` keys; beyond it the oldest window goes first (a key's
 * window restarting moves it to the back): a looser limit for that key, never a refusal.
 */
export class LocalCounters implements WindowCounters {
  private readonly windows = new Map<string, { windowEnd: number; count: number }>();

  constructor(private readonly maxKeys = 100_000) {}

  incr(key: string, windowMs: number): Count {
    const now = Date.now();
    let w = this.windows.get(key);
    if (!w || now >= w.windowEnd) {
      if (w) this.windows.delete(key);
      else if (this.windows.size >= this.maxKeys) {
        const oldest = this.windows.keys().next();
        if (!oldest.done) this.windows.delete(oldest.value);
      }
      w = { windowEnd: now + windowMs, count: 0 };
      this.windows.set(key, w);
    }
    w.count += 1;
    return { current: w.count, ttlMs: w.windowEnd - now };
  }

  get size(): number {
    return this.windows.size;
  }

  async close(): Promise<void> {
    this.windows.clear();
  }
}

interface Counter {
  /** Date.now() at which the window ends (the shared one's, once Redis answered). */
  windowEnd: number;
  /** The shared total Redis answered at the last sync (every process, ours included). */
  known: number;
  /** Counted here and not yet added to Redis. */
  unsynced: number;
  /** Sent to Redis and not answered yet. */
  inFlight: number;
}

export interface SyncedCountersOptions {
  redis: RedisClient;
  /** Prepended to every counter key (`<REDIS_PREFIX>ratelimit:<limiter>:`). */
  namespace: string;
  log: FastifyBaseLogger;
  /** How often counters are shared, ms. */
  syncMs?: number;
  /** A key is shared once this process counted this many of its requests in the window; default 1. */
  shareFrom?: number;
  /** Counters kept; beyond it those with nothing to send are dropped (they relearn at their next sync). */
  maxCounters?: number;
}

/** How often counters of ended windows are dropped, ms. */
const TIDY_MS = 5_000;

/** One limiter's counters, shared by every process of the deployment. */
export class SyncedCounters implements WindowCounters {
  private readonly counters = new Map<string, Counter>();
  /** Keys with counts to share (past shareFrom): a sync visits these, not every counter. */
  private readonly dirty = new Set<string>();
  private lastTidy = 0;
  private readonly timer: NodeJS.Timeout;
  private timeWindow = 60_000;
  private syncing = false;
  private lastError = 0;
  private readonly maxCounters: number;
  private readonly shareFrom: number;

  constructor(private readonly o: SyncedCountersOptions) {
    this.maxCounters = o.maxCounters ?? 200_000;
    this.shareFrom = Math.max(1, o.shareFrom ?? 1);
    this.timer = setInterval(() => void this.sync(), o.syncMs ?? 100).unref();
  }

  incr(key: string, windowMs: number): Count {
    this.timeWindow = windowMs;
    const now = Date.now();
    let c = this.counters.get(key);
    if (!c || now >= c.windowEnd) {
      // A past window's counts still unsent are dropped with it: they no longer limit anyone.
      c = { windowEnd: now + windowMs, known: 0, unsynced: 0, inFlight: 0 };
      this.counters.set(key, c);
    }
    c.unsynced += 1;
    const current = c.known + c.unsynced + c.inFlight;
    if (current >= this.shareFrom) this.dirty.add(key);
    return { current, ttlMs: c.windowEnd - now };
  }

  get size(): number {
    return this.counters.size;
  }

  private async send(key: string, c: Counter): Promise<void> {
    const n = c.unsynced;
    c.unsynced = 0;
    c.inFlight += n;
    try {
      const [total, ttl] = await this.o.redis.addToWindow(`${this.o.namespace}${key}`, n, this.timeWindow);
      // `total` counts every send of ours up to this one (one connection answers in order), not
      // those still in flight nor what was counted since: current = known + inFlight + unsynced.
      c.inFlight -= n;
      if (this.counters.get(key) !== c) return; // its window ended meanwhile
      if (total === n && c.known > 0) {
        // The shared window ended and this send opened the next one: start over from it.
        c.known = 0;
      }
      c.known = Math.max(c.known, total);
      c.windowEnd = Date.now() + ttl;
    } catch (err) {
      c.inFlight -= n;
      c.unsynced += n; // counted again at the next sync
      if (this.counters.get(key) === c) this.dirty.add(key);
      if (Date.now() - this.lastError > 10_000) {
        this.lastError = Date.now();
        this.o.log.warn(
          { err },
          'rate-limit counters not shared (Redis); each process limits on its own counts',
        );
      }
    }
  }

  /** Shares every counter with new requests past shareFrom; now and then drops ended windows. */
  async sync(): Promise<void> {
    if (this.syncing) return;
    this.syncing = true;
    try {
      const now = Date.now();
      const sends: Promise<void>[] = [];
      for (const key of this.dirty) {
        const c = this.counters.get(key);
        if (c && now < c.windowEnd && c.unsynced > 0) sends.push(this.send(key, c));
      }
      this.dirty.clear();
      if (now - this.lastTidy >= TIDY_MS || this.counters.size > this.maxCounters) {
        this.lastTidy = now;
        this.tidy(now);
      }
      await Promise.all(sends);
    } finally {
      this.syncing = false;
    }
  }

  /**
   * Drops counters whose window ended; beyond maxCounters also counters with nothing in flight,
   * oldest first: they restart from the shared total at their next share (or from 0 when they never
   * reached shareFrom) — a looser limit for them, never a false refusal.
   */
  private tidy(now: number): void {
    for (const [key, c] of this.counters) {
      if (now >= c.windowEnd && c.inFlight === 0) this.counters.delete(key);
    }
    for (const [key, c] of this.counters) {
      if (this.counters.size <= this.maxCounters) break;
      if (c.inFlight === 0) this.counters.delete(key);
    }
  }

  /** Stops the loop after one last share of what was counted. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.sync();
  }
}
