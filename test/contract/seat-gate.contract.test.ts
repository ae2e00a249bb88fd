/**
 * One contract, two adapters: the concerts' seat gate in memory (embedded mode) and on Redis
 * (cluster mode, one Lua script per method) must answer identically. Redis runs for real, under a
 * private key prefix.
 */
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { MemorySeatGate } from '../../src/modules/concerts/memory-seat-gate.js';
import { RedisSeatGate } from '../../src/modules/concerts/redis-seat-gate.js';
import type { SeatGate } from '../../src/modules/concerts/seat-gate.js';
import { privateRedis } from '../support/redis.js';

const adapters: {
  name: string;
  needsRedis: boolean;
  make: () => Promise<{ gate: SeatGate; done: () => Promise<void> }>;
}[] = [
  {
    name: 'memory',
    needsRedis: false,
    make: async () => ({ gate: new MemorySeatGate(), done: async () => {} }),
  },
  {
    name: 'redis',
    needsRedis: true,
    make: async () => {
      const { redis, keys, done } = await privateRedis(inject('redisUrl'));
      return { gate: new RedisSeatGate(redis, keys), done };
    },
  },
];

const T = 1_700_000_000_000;
const LIMIT = 4;

for (const adapter of adapters) {
  describe.skipIf(adapter.needsRedis && !inject('redisAvailable'))(
    `seat gate contract: ${adapter.name}`,
    () => {
      let gate: SeatGate;
      let done: () => Promise<void> = async () => {};
      let n = 0;
      let s: string;
      const check = (who: string, seats: number[], now = T) => gate.check(s, who, seats, now, LIMIT);
      /** What PostgreSQL committed: `who` holds `seats` until `until`. */
      const hold = (who: string, seats: number[], until = T + 30_000) =>
        gate.settle(s, who, seats, 'HELD', until, T);

      beforeEach(async () => {
        if (!gate) ({ gate, done } = await adapter.make());
        s = `s${++n}`;
        await gate.load(s, { taken: [] });
      });
      afterAll(async () => {
        await done();
      });

      it('answers NOT_LOADED for a schedule it has no state for, and again after evict', async () => {
        expect(await gate.check('unknown', 'u1', [1], T, LIMIT)).toEqual({ outcome: 'NOT_LOADED' });
        expect(await check('u1', [1])).toEqual({ outcome: 'CLEAR' });
        await gate.evict(s);
        expect(await check('u2', [2])).toEqual({ outcome: 'NOT_LOADED' });
        await gate.settle(s, 'u2', [2], 'HELD', T + 1_000, T); // a no-op: nothing to settle
        expect(await check('u2', [2])).toEqual({ outcome: 'NOT_LOADED' });
      });

      it('checks the limit before the seats, as PostgreSQL does', async () => {
        await hold('u1', [1, 2, 3, 4]);
        expect(await check('u1', [1])).toEqual({ outcome: 'HOLD_LIMIT' });
        expect(await check('u2', [1])).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [1] });
      });

      it('names every taken seat asked for, and takes nothing itself', async () => {
        await hold('u1', [1, 2]);
        expect(await check('u2', [3, 2, 1])).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [2, 1] });
        expect(await check('u2', [3])).toEqual({ outcome: 'CLEAR' });
        // A check claims nothing: two claimants racing for seat 3 both pass, the commit decides.
        expect(await check('u3', [3])).toEqual({ outcome: 'CLEAR' });
        expect(await check('u1', [2])).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [2] }); // own seats too
      });

      it('refuses a claimant more than the limit of live holds; sold and expired ones do not count', async () => {
        await hold('u1', [1, 2, 3]);
        expect(await check('u1', [4, 5])).toEqual({ outcome: 'HOLD_LIMIT' });
        expect(await check('u1', [4])).toEqual({ outcome: 'CLEAR' });
        expect(await check('u2', [4, 5])).toEqual({ outcome: 'CLEAR' }); // per claimant
        await gate.settle(s, 'u1', [1, 2], 'SOLD', 0, T);
        expect(await check('u1', [6, 7, 8])).toEqual({ outcome: 'CLEAR' });
        expect(await check('u1', [6, 7, 8, 9])).toEqual({ outcome: 'HOLD_LIMIT' });
        // At T + 30 s the hold of seat 3 has run out: it counts no more.
        expect(await check('u1', [8, 9, 10, 11], T + 30_000)).toEqual({ outcome: 'CLEAR' });
      });

      it('frees a hold at its expiry: the seat is anyone’s from that instant, never before', async () => {
        await hold('u1', [1], T + 100);
        expect(await check('u2', [1], T + 99)).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [1] });
        expect(await check('u2', [1], T + 100)).toEqual({ outcome: 'CLEAR' });
      });

      it('settles HELD (new expiry), FREE (only the claimant’s hold) and SOLD (forever)', async () => {
        await hold('u1', [1, 2], T + 100);
        await hold('u1', [1, 2], T + 300_000);
        expect(await check('u2', [1], T + 200_000)).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [1] });
        await gate.settle(s, 'u2', [1], 'FREE', 0, T); // not u2's: left alone
        expect(await check('u3', [1])).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [1] });
        await gate.settle(s, 'u1', [1], 'FREE', 0, T);
        expect(await check('u3', [1])).toEqual({ outcome: 'CLEAR' });
        await gate.settle(s, 'u1', [2], 'SOLD', 0, T);
        expect(await check('u3', [2], T + 10 ** 12)).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [2] });
        await gate.settle(s, 'u1', [2], 'FREE', 0, T); // a sale is never freed
        await gate.settle(s, 'u1', [2], 'HELD', T + 1, T);
        expect(await check('u3', [2], T + 10 ** 12)).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [2] });
      });

      it('gives a seat to whom PostgreSQL gave it: another claimant’s stale hold there stops counting', async () => {
        await hold('u4', [7, 8, 9, 10], T + 10 ** 6);
        expect(await check('u4', [11])).toEqual({ outcome: 'HOLD_LIMIT' });
        await hold('u5', [7]); // u4's hold of 7 was released elsewhere; the release never reached the gate
        expect(await check('u6', [7])).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [7] });
        expect(await check('u4', [11])).toEqual({ outcome: 'CLEAR' }); // 8, 9, 10 are u4's
        await gate.settle(s, 'u5', [8], 'SOLD', 0, T);
        expect(await check('u4', [11, 12])).toEqual({ outcome: 'CLEAR' }); // 9, 10
        expect(await check('u4', [11, 12, 13])).toEqual({ outcome: 'HOLD_LIMIT' });
        await gate.settle(s, 'u4', [7], 'FREE', 0, T); // u4's late release leaves u5's hold alone
        expect(await check('u6', [7])).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [7] });
        expect(await check('u5', [1, 2, 3, 4])).toEqual({ outcome: 'HOLD_LIMIT' }); // 7 is u5's
        expect(await check('u5', [1, 2, 3])).toEqual({ outcome: 'CLEAR' });
      });

      it('replaces its state with a snapshot: sold, held until, and who holds what', async () => {
        await hold('u9', [3]);
        await gate.load(s, {
          taken: [
            { seat: 5, holder: 'u1', untilMs: null },
            { seat: 6, holder: 'u2', untilMs: T + 1_000 },
            { seat: 7, holder: 'u2', untilMs: T + 1_000 },
            { seat: 8, holder: 'u2', untilMs: T + 1_000 },
          ],
        });
        expect(await check('u3', [3])).toEqual({ outcome: 'CLEAR' }); // not in the snapshot: gone
        expect(await check('u9', [1, 2, 3, 4])).toEqual({ outcome: 'CLEAR' }); // and u9 holds nothing
        expect(await check('u3', [5, 6], T + 10 ** 9)).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [5] });
        expect(await check('u3', [6], T + 999)).toEqual({ outcome: 'SEAT_UNAVAILABLE', seats: [6] });
        expect(await check('u2', [1, 2])).toEqual({ outcome: 'HOLD_LIMIT' }); // 6, 7, 8 are u2's
        expect(await check('u2', [1])).toEqual({ outcome: 'CLEAR' });
        expect(await check('u1', [9, 10, 11, 12])).toEqual({ outcome: 'CLEAR' }); // sold seat 5 does not count
      });

      it('answers 300 checks at once, each naming exactly the held seats it asked for', async () => {
        await hold(
          'h',
          [...Array(25).keys()].map((i) => i + 1).filter((x) => x % 2 === 0),
        );
        const wants = Array.from({ length: 300 }, () => {
          const a = 1 + Math.floor(Math.random() * 50);
          const b = 1 + Math.floor(Math.random() * 50);
          return a === b ? [a] : [a, b];
        });
        const answers = await Promise.all(wants.map((w, i) => check(`c${i}`, w)));
        for (const [i, a] of answers.entries()) {
          const taken = wants[i].filter((x) => x <= 25 && x % 2 === 0);
          expect(a).toEqual(
            taken.length ? { outcome: 'SEAT_UNAVAILABLE', seats: taken } : { outcome: 'CLEAR' },
          );
        }
      });
    },
  );
}
