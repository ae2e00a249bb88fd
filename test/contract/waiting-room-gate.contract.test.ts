/**
 * One contract, two adapters: the waiting-room gate in memory (embedded mode) and in Redis (cluster
 * mode) must answer identically. Times are explicit ms values that never go backwards within a room.
 */
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { WaitingRoomGate } from '../../src/modules/waiting-rooms/gate.js';
import { MemoryWaitingRoomGate } from '../../src/modules/waiting-rooms/memory-gate.js';
import { RedisWaitingRoomGate } from '../../src/modules/waiting-rooms/redis-gate.js';
import { privateRedis } from '../support/redis.js';

const adapters: {
  name: string;
  needsRedis: boolean;
  make: () => Promise<{ gate: WaitingRoomGate; done: () => Promise<void> }>;
}[] = [
  {
    name: 'memory',
    needsRedis: false,
    make: async () => ({ gate: new MemoryWaitingRoomGate(), done: async () => {} }),
  },
  {
    name: 'redis',
    needsRedis: true,
    make: async () => {
      const { redis, keys, done } = await privateRedis(inject('redisUrl'));
      return { gate: new RedisWaitingRoomGate(redis, keys), done };
    },
  },
];

const EMPTY = { lastSeq: 0, entries: [] };
const tickAt = (
  nowMs: number,
  over: Partial<{ idleBeforeMs: number; maxActive: number | null; admitMax: number }> = {},
) => ({
  nowMs,
  idleBeforeMs: 0,
  maxActive: null,
  admitMax: 1_000_000,
  ...over,
});

for (const adapter of adapters) {
  describe.skipIf(adapter.needsRedis && !inject('redisAvailable'))(
    `waiting-room gate contract: ${adapter.name}`,
    () => {
      let gate: WaitingRoomGate;
      let done: () => Promise<void> = async () => {};
      let n = 0;
      let room = '';
      beforeEach(async () => {
        if (!gate) ({ gate, done } = await adapter.make());
        n += 1;
        room = String(500 + n);
      });
      afterAll(() => done());

      it('answers NOT_LOADED until the room is loaded', async () => {
        expect(await gate.join(room, '1', 1, true)).toBe('NOT_LOADED');
        expect(await gate.get(room, '1', 1, false)).toBe('NOT_LOADED');
        expect(await gate.tick(room, tickAt(1))).toBe('NOT_LOADED');
        expect(await gate.counts(room)).toBeNull();
      });

      it('gives 2,000 concurrent joiners unique places 1..2,000, and a second join the same place', async () => {
        await gate.load(room, EMPTY, 1);
        const joins = await Promise.all(
          Array.from({ length: 2000 }, (_, i) => gate.join(room, String(i + 1), 10, true)),
        );
        const places = joins.map((j) => (j === 'NOT_LOADED' ? -1 : (j.entry.position ?? -1)));
        expect(new Set(places).size).toBe(2000);
        expect(Math.min(...places)).toBe(1);
        expect(Math.max(...places)).toBe(2000);
        expect(joins.every((j) => j !== 'NOT_LOADED' && j.created && j.entry.status === 'WAITING')).toBe(
          true,
        );
        const again = await gate.join(room, '77', 20, true);
        const first = joins[76];
        expect(again !== 'NOT_LOADED' && first !== 'NOT_LOADED' && again.created).toBe(false);
        expect(again !== 'NOT_LOADED' && first !== 'NOT_LOADED' && again.entry.position).toBe(
          first !== 'NOT_LOADED' ? first.entry.position : null,
        );
        expect(await gate.counts(room)).toEqual({ waiting: 2000, active: 0, prequeue: 0 });
      });

      it('names candidates in join order within maxActive and the rate budget, and moves only those admitted', async () => {
        await gate.load(room, EMPTY, 1);
        for (const u of ['a', 'b', 'c', 'd', 'e']) await gate.join(room, u, 10, true);
        const t1 = await gate.tick(room, tickAt(20, { maxActive: 3, admitMax: 2 }));
        expect(t1).toEqual({ expired: [], dropped: [], candidates: ['a', 'b'] });
        expect(await gate.admit(room, ['a', 'b'], 20, 1_000)).toEqual(['a', 'b']);
        const t2 = await gate.tick(room, tickAt(30, { maxActive: 3, admitMax: 5 }));
        expect(t2 !== 'NOT_LOADED' && t2.candidates).toEqual(['c']);
        const c = await gate.get(room, 'c', 30, false);
        expect(c !== 'NOT_LOADED' && c?.position).toBe(1);
        const a = await gate.get(room, 'a', 30, false);
        expect(a).toMatchObject({ status: 'ADMITTED', admittedAt: 20, passExpiresAt: 1_000, position: null });
        expect(await gate.counts(room)).toEqual({ waiting: 3, active: 2, prequeue: 0 });
        // A candidate that left before admission is not moved.
        await gate.remove(room, 'c');
        expect(await gate.admit(room, ['c', 'd'], 40, 1_000)).toEqual(['d']);
      });

      it('expires passes at their expiry, freeing the slot, and completes a purchase as DONE', async () => {
        await gate.load(room, EMPTY, 1);
        for (const u of ['a', 'b', 'c']) await gate.join(room, u, 10, true);
        await gate.admit(room, ['a', 'b'], 20, 100);
        expect(await gate.complete(room, 'b')).toBe(true);
        expect(await gate.complete(room, 'c')).toBe(false);
        const t = await gate.tick(room, tickAt(100, { maxActive: 1 }));
        expect(t).toEqual({ expired: ['a'], dropped: [], candidates: ['c'] });
        expect(await gate.get(room, 'a', 100, false)).toMatchObject({ status: 'EXPIRED' });
        expect(await gate.get(room, 'b', 100, false)).toMatchObject({ status: 'DONE' });
        // DONE stays DONE; EXPIRED rejoins at the back.
        const b = await gate.join(room, 'b', 110, true);
        expect(b !== 'NOT_LOADED' && [b.created, b.entry.status]).toEqual([false, 'DONE']);
        const a = await gate.join(room, 'a', 110, true);
        expect(a !== 'NOT_LOADED' && [a.created, a.entry.status, a.entry.position]).toEqual([
          true,
          'WAITING',
          2,
        ]);
      });

      it('drops waiting entries without a heartbeat, so the line moves on', async () => {
        await gate.load(room, EMPTY, 1);
        await gate.join(room, 'idle', 10, true);
        await gate.join(room, 'alive', 10, true);
        await gate.get(room, 'alive', 50, true);
        const t = await gate.tick(room, tickAt(60, { idleBeforeMs: 40, admitMax: 0 }));
        expect(t).toEqual({ expired: [], dropped: ['idle'], candidates: [] });
        expect(await gate.get(room, 'idle', 60, false)).toMatchObject({ status: 'EXPIRED', position: null });
        expect(await gate.get(room, 'alive', 60, false)).toMatchObject({ status: 'WAITING', position: 1 });
      });

      it('keeps early joiners in a pre-queue, then places them in the given order at the opening', async () => {
        await gate.load(room, EMPTY, 1);
        for (const u of ['p1', 'p2', 'p3']) {
          const j = await gate.join(room, u, 10, false);
          expect(j !== 'NOT_LOADED' && [j.entry.seq, j.entry.position]).toEqual([null, null]);
        }
        expect((await gate.prequeue(room)).sort()).toEqual(['p1', 'p2', 'p3']);
        expect(await gate.counts(room)).toEqual({ waiting: 0, active: 0, prequeue: 3 });
        expect(await gate.open(room, ['p3', 'p1', 'p2'])).toEqual([
          { userId: 'p3', seq: 1 },
          { userId: 'p1', seq: 2 },
          { userId: 'p2', seq: 3 },
        ]);
        await gate.join(room, 'late', 20, true);
        const t = await gate.tick(room, tickAt(30));
        expect(t !== 'NOT_LOADED' && t.candidates).toEqual(['p3', 'p1', 'p2', 'late']);
        expect(await gate.prequeue(room)).toEqual([]);
      });

      it('removes an entry wherever it is and says what it was', async () => {
        await gate.load(room, EMPTY, 1);
        await gate.join(room, 'w', 10, true);
        await gate.join(room, 'x', 10, true);
        await gate.admit(room, ['w'], 20, 1_000);
        expect(await gate.remove(room, 'w')).toBe('ADMITTED');
        expect(await gate.remove(room, 'x')).toBe('WAITING');
        expect(await gate.remove(room, 'x')).toBeNull();
        expect(await gate.counts(room)).toEqual({ waiting: 0, active: 0, prequeue: 0 });
        expect(await gate.get(room, 'x', 30, false)).toBeNull();
      });

      it('load replaces the state with a snapshot: places, pre-queue, active passes and the next sequence', async () => {
        await gate.load(room, EMPTY, 1);
        await gate.join(room, 'gone', 5, true);
        await gate.load(
          room,
          {
            lastSeq: 9,
            entries: [
              { userId: 'w7', status: 'WAITING', seq: 7, joinedAt: 1, admittedAt: null, passExpiresAt: null },
              { userId: 'w3', status: 'WAITING', seq: 3, joinedAt: 1, admittedAt: null, passExpiresAt: null },
              {
                userId: 'pre',
                status: 'WAITING',
                seq: null,
                joinedAt: 1,
                admittedAt: null,
                passExpiresAt: null,
              },
              { userId: 'act', status: 'ADMITTED', seq: 1, joinedAt: 1, admittedAt: 2, passExpiresAt: 500 },
            ],
          },
          100,
        );
        expect(await gate.get(room, 'gone', 100, false)).toBeNull();
        expect(await gate.get(room, 'w3', 100, false)).toMatchObject({ position: 1, seq: 3 });
        expect(await gate.get(room, 'w7', 100, false)).toMatchObject({ position: 2, seq: 7 });
        expect(await gate.counts(room)).toEqual({ waiting: 2, active: 1, prequeue: 1 });
        const j = await gate.join(room, 'new', 110, true);
        expect(j !== 'NOT_LOADED' && [j.entry.seq, j.entry.position]).toEqual([10, 3]);
        // Heartbeats restart at the load time: nobody is dropped for time spent before the rebuild.
        const t = await gate.tick(room, tickAt(120, { idleBeforeMs: 90, maxActive: 2 }));
        expect(t).toEqual({ expired: [], dropped: [], candidates: ['w3'] });
      });

      it('evict forgets the room', async () => {
        await gate.load(room, EMPTY, 1);
        await gate.evict(room);
        expect(await gate.join(room, '1', 1, true)).toBe('NOT_LOADED');
      });
    },
  );
}
