/**
 * One contract, two adapters: the admission protocol's memory gate (embedded mode) and Redis gate
 * (cluster mode) must answer identically. Run with the coupon kind's keys, against a real Redis
 * with a private key prefix.
 */
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  type AdmissionGate,
  MemoryAdmissionGate,
  RedisAdmissionGate,
} from '../../src/infra/admission/index.js';
import { privateRedis } from '../support/redis.js';

const adapters: {
  name: string;
  make: () => Promise<{ gate: AdmissionGate; done: () => Promise<void> }>;
  needsRedis: boolean;
}[] = [
  {
    name: 'memory',
    needsRedis: false,
    make: async () => ({ gate: new MemoryAdmissionGate(), done: async () => {} }),
  },
  {
    name: 'redis',
    needsRedis: true,
    make: async () => {
      const { redis, keys, done } = await privateRedis(inject('redisUrl'));
      return { gate: new RedisAdmissionGate(redis, keys.units('coupon')), done };
    },
  },
];

for (const adapter of adapters) {
  describe.skipIf(adapter.needsRedis && !inject('redisAvailable'))(
    `admission gate contract: ${adapter.name}`,
    () => {
      let gate: AdmissionGate;
      let done: () => Promise<void> = async () => {};
      let n = 0;
      let coupon = '';
      beforeEach(async () => {
        if (!gate) ({ gate, done } = await adapter.make());
        n += 1;
        coupon = String(1000 + n);
      });
      afterAll(() => done());

      it('answers NOT_LOADED until the coupon is loaded, and remaining is null', async () => {
        expect(await gate.reserve(coupon, '1', Date.now())).toBe('NOT_LOADED');
        expect(await gate.remaining(coupon)).toBeNull();
      });

      it('reserves each unit once, then SOLD_OUT', async () => {
        await gate.load(coupon, { remaining: 2, holders: [] });
        expect(await gate.reserve(coupon, '1', 1)).toBe('RESERVED');
        expect(await gate.reserve(coupon, '2', 1)).toBe('RESERVED');
        expect(await gate.reserve(coupon, '3', 1)).toBe('SOLD_OUT');
        expect(await gate.remaining(coupon)).toBe(0);
      });

      it('answers ALREADY_ISSUED to a holder, before SOLD_OUT', async () => {
        await gate.load(coupon, { remaining: 1, holders: ['7'] });
        expect(await gate.reserve(coupon, '7', 1)).toBe('ALREADY_ISSUED');
        expect(await gate.reserve(coupon, '8', 1)).toBe('RESERVED');
        expect(await gate.reserve(coupon, '8', 1)).toBe('ALREADY_ISSUED');
        expect(await gate.reserve(coupon, '9', 1)).toBe('SOLD_OUT');
      });

      it('never hands out more than remaining under 2,000 concurrent reservations', async () => {
        await gate.load(coupon, { remaining: 100, holders: [] });
        const outcomes = await Promise.all(
          Array.from({ length: 2000 }, (_, i) => gate.reserve(coupon, String(i % 1500), Date.now())),
        );
        expect(outcomes.filter((o) => o === 'RESERVED')).toHaveLength(100);
        expect(await gate.remaining(coupon)).toBe(0);
      });

      it('settle ISSUED keeps the unit; FAILED gives it back and forgets the user', async () => {
        await gate.load(coupon, { remaining: 1, holders: [] });
        expect(await gate.reserve(coupon, '1', 1)).toBe('RESERVED');
        await gate.settle(coupon, '1', 'FAILED');
        expect(await gate.remaining(coupon)).toBe(1);
        expect(await gate.reserve(coupon, '1', 1)).toBe('RESERVED');
        await gate.settle(coupon, '1', 'ISSUED');
        expect(await gate.remaining(coupon)).toBe(0);
        expect(await gate.reserve(coupon, '1', 1)).toBe('ALREADY_ISSUED');
        expect(await gate.stalePending(coupon, Number.MAX_SAFE_INTEGER)).toEqual([]);
      });

      it('settle DUPLICATE gives the unit back but keeps the user; SOLD_OUT zeroes remaining', async () => {
        await gate.load(coupon, { remaining: 5, holders: [] });
        await gate.reserve(coupon, '1', 1);
        await gate.settle(coupon, '1', 'DUPLICATE');
        expect(await gate.remaining(coupon)).toBe(5);
        expect(await gate.reserve(coupon, '1', 1)).toBe('ALREADY_ISSUED');
        await gate.reserve(coupon, '2', 1);
        await gate.settle(coupon, '2', 'SOLD_OUT');
        expect(await gate.remaining(coupon)).toBe(0);
        expect(await gate.reserve(coupon, '2', 1)).toBe('SOLD_OUT');
      });

      it('settles a pending mark at most once', async () => {
        await gate.load(coupon, { remaining: 1, holders: [] });
        await gate.reserve(coupon, '1', 1);
        await gate.settle(coupon, '1', 'FAILED');
        await gate.settle(coupon, '1', 'FAILED');
        expect(await gate.remaining(coupon)).toBe(1);
      });

      it('lists stale pending reservations by age', async () => {
        await gate.load(coupon, { remaining: 3, holders: [] });
        await gate.reserve(coupon, '1', 1_000);
        await gate.reserve(coupon, '2', 2_000);
        await gate.reserve(coupon, '3', 3_000);
        expect((await gate.stalePending(coupon, 2_000)).sort()).toEqual(['1', '2']);
      });

      it('resync confirms committed, releases uncommitted, and aligns remaining when nothing is in flight', async () => {
        await gate.load(coupon, { remaining: 3, holders: [] });
        await gate.reserve(coupon, '1', 1);
        await gate.reserve(coupon, '2', 1);
        const r = await gate.resync(coupon, { remaining: 2, committed: ['1'], uncommitted: ['2'] });
        expect(r).toEqual({ released: 1, confirmed: 1, resynced: true });
        expect(await gate.remaining(coupon)).toBe(2);
        expect(await gate.reserve(coupon, '1', 1)).toBe('ALREADY_ISSUED');
        expect(await gate.reserve(coupon, '2', 1)).toBe('RESERVED');
        const r2 = await gate.resync(coupon, { remaining: 9, committed: [], uncommitted: [] });
        expect(r2.resynced).toBe(false); // '2' is in flight
        expect(await gate.remaining(coupon)).toBe(1);
      });

      it('load replaces state, including a large holder set', async () => {
        const holders = Array.from({ length: 12_345 }, (_, i) => String(i + 1));
        await gate.load(coupon, { remaining: 7, holders });
        expect(await gate.reserve(coupon, '12345', 1)).toBe('ALREADY_ISSUED');
        expect(await gate.reserve(coupon, '99999', 1)).toBe('RESERVED');
        await gate.load(coupon, { remaining: 1, holders: [] });
        expect(await gate.reserve(coupon, '12345', 1)).toBe('RESERVED');
        expect(await gate.remaining(coupon)).toBe(0);
      });

      it('evict forgets the coupon', async () => {
        await gate.load(coupon, { remaining: 1, holders: [] });
        await gate.evict(coupon);
        expect(await gate.reserve(coupon, '1', 1)).toBe('NOT_LOADED');
      });
    },
  );
}
