/**
 * The Redis waiting-room gate at 100,000 waiting entries, checked by structure, not by timing:
 *   - `join` and `get` are one round trip each (one command sent), and their scripts hold no loop;
 *   - `tick` scans with ZRANGEBYSCORE ... LIMIT, so one tick drops at most TICK_SCAN_LIMIT idle
 *     entries however many there are, and never names an idle entry a candidate;
 *   - `load` of 100,000 entries is staged in chunks, and a reader on another connection sees the old
 *     room or the new one, never a half-loaded room.
 * Round trips are counted at `sendCommand`, through which ioredis sends every command.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Command } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedis, type RedisClient } from '../../src/infra/redis/client.js';
import type { Keys } from '../../src/infra/redis/keys.js';
import type { GateEntry } from '../../src/modules/waiting-rooms/gate.js';
import { RedisWaitingRoomGate, TICK_SCAN_LIMIT } from '../../src/modules/waiting-rooms/redis-gate.js';
import { privateRedis } from '../support/redis.js';

const LUA_DIR = new URL('../../src/infra/redis/lua/', import.meta.url);
const N = 100_000;
const LOADED_AT = 1_000;

/** Script name by SHA and by source, to name EVALSHA / EVAL commands. */
const scriptNames = new Map<string, string>();
for (const file of readdirSync(LUA_DIR)) {
  const m = /^(\w+)-\d+\.lua$/.exec(file);
  if (!m) continue;
  const source = readFileSync(new URL(file, LUA_DIR), 'utf8');
  scriptNames.set(createHash('sha1').update(source).digest('hex'), m[1]);
  scriptNames.set(source, m[1]);
}
const luaBody = (name: string) => {
  const file = readdirSync(LUA_DIR).find((f) => f.startsWith(`${name}-`));
  const source = readFileSync(new URL(file as string, LUA_DIR), 'utf8');
  return source.replace(/^\s*--\[(=*)\[[\s\S]*?\]\1\]/, '').replace(/--[^\n]*/g, '');
};

/** Zero-padded ids: lexical order = join order (zset ties are broken lexically). */
const user = (i: number) => `u${String(i).padStart(6, '0')}`;
const waitingSnapshot = (n: number) => ({
  lastSeq: n,
  entries: Array.from({ length: n }, (_, i) => ({
    userId: user(i + 1),
    status: 'WAITING' as const,
    seq: i + 1,
    joinedAt: 1,
    admittedAt: null,
    passExpiresAt: null,
  })),
});

describe('the Redis loops of the hot path', () => {
  it('roomJoin and roomGet hold no loop; every ZRANGEBYSCORE of roomTick has a LIMIT', () => {
    for (const name of ['roomJoin', 'roomGet']) {
      expect(luaBody(name), name).not.toMatch(/\b(for|while|repeat)\b/);
    }
    const scans = luaBody('roomTick').match(/'ZRANGEBYSCORE'[^\n]*/g) ?? [];
    expect(scans.length).toBeGreaterThan(0);
    for (const scan of scans) expect(scan).toMatch(/'LIMIT', 0, limit/);
  });
});

describe.skipIf(!inject('redisAvailable'))('Redis waiting-room gate at 100,000 waiting entries', () => {
  let redis: RedisClient;
  let gate: RedisWaitingRoomGate;
  let keys: Keys;
  let done: () => Promise<void>;
  const sent: string[] = [];

  beforeAll(async () => {
    const r = await privateRedis(inject('redisUrl'));
    ({ redis, keys, done } = r);
    gate = new RedisWaitingRoomGate(redis, r.keys);
    const send = redis.sendCommand.bind(redis) as (c: Command) => unknown;
    (redis as unknown as { sendCommand: (c: Command) => unknown }).sendCommand = (c: Command) => {
      const first = c.args[0];
      const script = /^eval/i.test(c.name) ? scriptNames.get(String(first)) : undefined;
      sent.push(script ?? c.name);
      return send(c);
    };
    await gate.load('big', waitingSnapshot(N), LOADED_AT);
    // Another room whose loads are watched from a second connection.
    await gate.load('swap', waitingSnapshot(3), LOADED_AT);
  });
  afterAll(() => done?.());

  /** The commands `fn` sends, and its result. */
  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; commands: string[] }> {
    sent.length = 0;
    const result = await fn();
    return { result, commands: [...sent] };
  }

  it('get (with or without a heartbeat) is one round trip, and the last place is 100,000', async () => {
    const last = await counted(() => gate.get('big', user(N), 2_000, false));
    expect(last.commands).toEqual(['roomGet']);
    expect(last.result).toMatchObject({ status: 'WAITING', seq: N, position: N });
    const beat = await counted(() => gate.get('big', user(50_000), 2_000, true));
    expect(beat.commands).toEqual(['roomGet']);
    expect((beat.result as GateEntry).position).toBe(50_000);
  });

  it('join is one round trip: a new user is placed at 100,001, a second join finds the same place', async () => {
    const fresh = await counted(() => gate.join('big', 'newcomer', 2_000, true));
    expect(fresh.commands).toEqual(['roomJoin']);
    expect(fresh.result).toMatchObject({ created: true, entry: { seq: N + 1, position: N + 1 } });
    const again = await counted(() => gate.join('big', 'newcomer', 2_000, true));
    expect(again.commands).toEqual(['roomJoin']);
    expect(again.result).toMatchObject({ created: false, entry: { position: N + 1 } });
    const removed = await counted(() => gate.remove('big', 'newcomer'));
    expect([removed.commands, removed.result]).toEqual([['roomRemove'], 'WAITING']);
  });

  it('a tick with live heartbeats is one round trip naming the head of the line', async () => {
    const t = await counted(() =>
      gate.tick('big', { nowMs: 2_000, idleBeforeMs: LOADED_AT, maxActive: null, admitMax: 100 }),
    );
    expect(t.commands).toEqual(['roomTick']);
    expect(t.result).toEqual({
      expired: [],
      dropped: [],
      candidates: Array.from({ length: 100 }, (_, i) => user(i + 1)),
    });
  });

  it('when everyone went idle, one tick drops a bounded number and names no idle candidate; ticks drain the rest', async () => {
    const over = { nowMs: 3_000, idleBeforeMs: 2_500, maxActive: null, admitMax: 100 };
    // user(50_000) beat at 2,000 (above): idle too at this cutoff.
    const t = await counted(() => gate.tick('big', over));
    expect(t.commands).toEqual(['roomTick']);
    const first = t.result === 'NOT_LOADED' ? null : t.result;
    expect(first?.candidates).toEqual([]);
    // Oldest heartbeat first (ties lexically): the head of the line; the rest waits for later ticks.
    expect(first?.dropped.length).toBe(TICK_SCAN_LIMIT);
    expect(first?.dropped.slice(0, 3)).toEqual([user(1), user(2), user(3)]);
    let left = (await gate.counts('big'))?.waiting ?? -1;
    expect(left).toBe(N - (first?.dropped.length ?? 0));
    let ticks = 1;
    while (left > 0 && ticks < 2 * Math.ceil(N / TICK_SCAN_LIMIT)) {
      await gate.tick('big', over);
      left = (await gate.counts('big'))?.waiting ?? -1;
      ticks += 1;
    }
    expect(left).toBe(0);
    expect(ticks).toBe(Math.ceil(N / TICK_SCAN_LIMIT));
    expect(await gate.get('big', user(N), 3_000, false)).toMatchObject({ status: 'EXPIRED', position: null });
  });

  it('load stages 100,000 entries in chunks; another connection sees the old room or the new, never half of it', async () => {
    const watcher = createRedis(inject('redisUrl'));
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', () => resolve());
      watcher.once('error', reject);
    });
    const watch = new RedisWaitingRoomGate(watcher, keys);
    const seen = new Set<string>();
    let loading = true;
    const watching = (async () => {
      while (loading) seen.add(JSON.stringify(await watch.counts('swap')));
    })();
    try {
      const l = await counted(() => gate.load('swap', waitingSnapshot(N), 4_000));
      loading = false;
      await watching;
      expect(l.commands.filter((c) => c === 'roomStage').length).toBe(Math.ceil(N / 5_000));
      expect(l.commands.at(-1)).toBe('roomLoad');
      const old = JSON.stringify({ waiting: 3, active: 0, prequeue: 0 });
      const loaded = JSON.stringify({ waiting: N, active: 0, prequeue: 0 });
      expect([...seen].filter((s) => s !== old && s !== loaded)).toEqual([]);
      expect(seen.has(old)).toBe(true);
      expect(await watch.get('swap', user(N), 4_000, false)).toMatchObject({ position: N });
    } finally {
      loading = false;
      watcher.disconnect();
    }
  });
});
