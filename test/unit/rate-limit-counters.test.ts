/**
 * The rate limiter's counters: fixed windows, bounded memory, and (cluster mode) counts shared by
 * every process through Redis without a round trip per request.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, inject, it, vi } from 'vitest';
import { addressKey } from '../../src/http/rate-limit.js';
import { LocalCounters, SyncedCounters } from '../../src/http/rate-limit-counters.js';
import { privateRedis } from '../support/redis.js';

describe('LocalCounters', () => {
  afterEach(() => vi.useRealTimers());

  it('counts a key within its window and starts over when the window ends', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const c = new LocalCounters();
    expect(c.incr('a', 60_000)).toEqual({ current: 1, ttlMs: 60_000 });
    vi.advanceTimersByTime(59_999);
    expect(c.incr('a', 60_000)).toEqual({ current: 2, ttlMs: 1 });
    expect(c.incr('b', 60_000).current).toBe(1);
    vi.advanceTimersByTime(1);
    expect(c.incr('a', 60_000)).toEqual({ current: 1, ttlMs: 60_000 });
  });

  it('keeps at most maxKeys keys, dropping the oldest window first', () => {
    const c = new LocalCounters(3);
    for (const k of ['a', 'b', 'c', 'd']) c.incr(k, 60_000);
    expect(c.size).toBe(3);
    expect(c.incr('a', 60_000).current).toBe(1); // 'a' was dropped, so it starts over
    expect(c.incr('d', 60_000).current).toBe(2);
  });
});

describe('addressKey', () => {
  it('counts IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8::7')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:DB8:0:0:1:2:3:4')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:db8:0:1::9')).toBe('2001:db8:0:1::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe.skipIf(!inject('redisAvailable'))('SyncedCounters (real Redis)', async () => {
  const log = pino({ level: 'silent' });
  const made: SyncedCounters[] = [];
  let done: () => Promise<void> = async () => {};
  afterAll(async () => {
    await Promise.all(made.map((c) => c.close()));
    await done();
  });
  const pair = async (syncMs = 20, shareFrom = 1) => {
    const r = await privateRedis(inject('redisUrl'));
    done = r.done;
    const namespace = `${r.keys.lock('x').replace(/lock:x$/, '')}ratelimit:test:`;
    const a = new SyncedCounters({ redis: r.redis, namespace, log, syncMs, shareFrom });
    const b = new SyncedCounters({ redis: r.redis, namespace, log, syncMs, shareFrom });
    made.push(a, b);
    return { a, b, redis: r.redis, namespace };
  };

  it('answers from local counts at once, and learns what the other processes counted at the next share', async () => {
    const { a, b } = await pair();
    for (let i = 1; i <= 30; i++) expect(a.incr('u', 60_000).current).toBe(i);
    for (let i = 1; i <= 20; i++) b.incr('u', 60_000);
    await sleep(150); // a few shares
    // b shared after a, so its share answered the total of both: its next request is the 51st.
    expect(b.incr('u', 60_000).current).toBe(51);
    // a had nothing new to share, so it judges its next request on what it knew (the documented
    // one-request lag), and knows everything after sharing it.
    expect(a.incr('u', 60_000).current).toBe(31);
    await sleep(150);
    // Whether a learned b's 51st depends on which share Redis ran first; one more share settles it.
    expect([52, 53]).toContain(a.incr('u', 60_000).current);
    await sleep(150);
    expect(a.incr('u', 60_000).current).toBe(54);
  });

  it('shares a key only once one process counted shareFrom of its requests', async () => {
    const { a, b, redis, namespace } = await pair(20, 5);
    for (let i = 0; i < 4; i++) a.incr('quiet', 60_000);
    await sleep(100);
    expect(await redis.exists(`${namespace}quiet`)).toBe(0); // below the threshold: Redis untouched
    a.incr('quiet', 60_000);
    await sleep(100);
    expect(Number(await redis.get(`${namespace}quiet`))).toBe(5);
    for (let i = 0; i < 5; i++) b.incr('quiet', 60_000);
    await sleep(100);
    expect(b.incr('quiet', 60_000).current).toBe(11);
  });

  it('keeps at most maxCounters counters, counters not shared yet included', async () => {
    const r = await privateRedis(inject('redisUrl'));
    const c = new SyncedCounters({
      redis: r.redis,
      namespace: 'x:',
      log,
      syncMs: 20,
      shareFrom: 100,
      maxCounters: 3,
    });
    try {
      for (let i = 0; i < 10; i++) c.incr(`k${i}`, 60_000);
      await sleep(80);
      expect(c.size).toBeLessThanOrEqual(3);
    } finally {
      await c.close();
      await r.done();
    }
  });

  it('adopts the shared window: a key first counted elsewhere ends when that window ends', async () => {
    const { a, b } = await pair();
    a.incr('w', 500);
    await sleep(150);
    b.incr('w', 500);
    await sleep(150);
    const left = b.incr('w', 500).ttlMs;
    expect(left).toBeLessThanOrEqual(500 - 150);
    await sleep(500);
    expect(a.incr('w', 500).current).toBe(1); // a new window
  });
});
