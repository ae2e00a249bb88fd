/**
 * The admission protocol is generic: a kind of unit that is not a coupon ('widget', with an
 * in-memory "database" as its store) gets reserve → commit → settle → reconcile and the gate rebuild
 * by supplying only a UnitKind. Runs against both gates (memory, and Redis with the kind's own keys).
 */
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import {
  type AdmissionGate,
  type AdmissionProtocol,
  CommitFailedError,
  createAdmissions,
  MemoryAdmissionGate,
  RedisAdmissionGate,
  type UnitKind,
} from '../../src/infra/admission/index.js';
import { createCommits } from '../../src/infra/commits.js';
import { processLocks } from '../../src/infra/locks.js';
import { Metrics } from '../../src/infra/metrics.js';
import { createKeys } from '../../src/infra/redis/keys.js';
import { noopTracer } from '../../src/infra/tracing.js';
import { privateRedis } from '../support/redis.js';

interface Claim {
  shelf: string;
  buyer: string;
}
type Outcome = 'ISSUED' | 'DUPLICATE' | 'SOLD_OUT';

/** The truth of the 'widget' kind: stock per shelf and who bought one; exact on its own. */
class WidgetDb {
  stock = new Map<string, number>();
  buyers = new Map<string, Set<string>>();
  failNext = false;
  commits = 0;

  async commitBatch(items: Claim[]): Promise<Outcome[]> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('connection lost');
    }
    this.commits += 1;
    return items.map(({ shelf, buyer }) => {
      const held = this.buyers.get(shelf) ?? new Set<string>();
      this.buyers.set(shelf, held);
      if (held.has(buyer)) return 'DUPLICATE';
      const left = this.stock.get(shelf) ?? 0;
      if (left <= held.size) return 'SOLD_OUT';
      held.add(buyer);
      return 'ISSUED';
    });
  }
}

function widgetKind(db: WidgetDb): UnitKind<Claim, Outcome> {
  return {
    unit: 'widget',
    committer: 'widget-sale',
    store: {
      commitBatch: (items) => db.commitBatch(items),
      snapshot: async (shelf) =>
        db.stock.has(shelf)
          ? {
              remaining: (db.stock.get(shelf) ?? 0) - (db.buyers.get(shelf)?.size ?? 0),
              holders: [...(db.buyers.get(shelf) ?? [])],
            }
          : null,
      committed: async (shelf, buyers) => new Set(buyers.filter((b) => db.buyers.get(shelf)?.has(b))),
      activeKeys: async () =>
        [...db.stock].map(([key, n]) => ({ key, remaining: n - (db.buyers.get(key)?.size ?? 0) })),
    },
    keyOf: (c) => c.shelf,
    claimantOf: (c) => c.buyer,
    settleOutcome: (o) => o,
  };
}

const log = pino({ level: 'silent' }) as unknown as FastifyBaseLogger;

const gates: {
  name: string;
  needsRedis: boolean;
  make: () => Promise<{ gate: AdmissionGate; done: () => Promise<void> }>;
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
      return { gate: new RedisAdmissionGate(redis, keys.units('widget')), done };
    },
  },
];

for (const g of gates) {
  describe.skipIf(g.needsRedis && !inject('redisAvailable'))(
    `admission protocol for a new kind of unit: ${g.name} gate`,
    () => {
      let gate: AdmissionGate;
      let done: () => Promise<void> = async () => {};
      let db: WidgetDb;
      let protocol: AdmissionProtocol<Claim, Outcome>;
      let metrics: Metrics;
      let n = 0;
      let shelf = '';

      beforeEach(async () => {
        if (!gate) ({ gate, done } = await g.make());
        n += 1;
        shelf = `s${n}`;
        db = new WidgetDb();
        metrics = new Metrics();
        const admissions = createAdmissions({
          config: { reconcileAfterMs: 30_000, reconcileIntervalMs: 60_000 },
          metrics,
          log,
          redis: null,
          keys: createKeys('unused:'),
          locks: processLocks,
          tracer: noopTracer,
          commits: createCommits({ commitMaxBatch: 100, commitMaxWaitMs: 1, commitConcurrency: 1 }, metrics),
        });
        protocol = admissions.protocol(widgetKind(db), { gate });
      });
      afterAll(() => done());

      it('sells exactly the stock under 1,000 concurrent buyers, rebuilding the gate from the store first', async () => {
        db.stock.set(shelf, 50);
        const answers = await Promise.all(
          Array.from({ length: 1000 }, (_, i) => protocol.admit({ shelf, buyer: String(i % 700) })),
        );
        const sold = answers.filter((a) => a.by === 'commit' && a.result === 'ISSUED');
        expect(sold).toHaveLength(50);
        expect(db.buyers.get(shelf)?.size).toBe(50);
        // Most of the crowd is answered by the gate, with no commit.
        expect(answers.filter((a) => a.by === 'gate').length).toBeGreaterThan(900);
        expect(await protocol.remaining(shelf)).toBe(0);
        await protocol.close();
      });

      it('gives the unit back when the commit fails, so the next buyer gets it', async () => {
        db.stock.set(shelf, 1);
        await protocol.prime(shelf, { remaining: 1, holders: [] });
        db.failNext = true;
        await expect(protocol.admit({ shelf, buyer: 'a' })).rejects.toBeInstanceOf(CommitFailedError);
        await new Promise((r) => setTimeout(r, 20)); // settles are fire-and-forget
        expect(await protocol.remaining(shelf)).toBe(1);
        const next = await protocol.admit({ shelf, buyer: 'b' });
        expect(next).toEqual({ by: 'commit', result: 'ISSUED' });
        await protocol.close();
      });

      it('reconciles reservations a crashed process left pending: committed ones confirmed, the rest given back', async () => {
        db.stock.set(shelf, 3);
        await protocol.prime(shelf, { remaining: 3, holders: [] });
        // Two reservations whose process died: one made it to the store, one did not.
        expect(await gate.reserve(shelf, 'kept', 1_000)).toBe('RESERVED');
        expect(await gate.reserve(shelf, 'lost', 1_000)).toBe('RESERVED');
        db.buyers.set(shelf, new Set(['kept']));
        expect(await gate.remaining(shelf)).toBe(1);
        expect(await protocol.reconcile(1_000)).toEqual({ released: 1, confirmed: 1 });
        expect(await gate.remaining(shelf)).toBe(2);
        expect(await gate.reserve(shelf, 'kept', 2_000)).toBe('ALREADY_ISSUED');
        await protocol.close();
      });

      it('answers a duplicate from the gate once the buyer holds a unit', async () => {
        db.stock.set(shelf, 5);
        expect(await protocol.admit({ shelf, buyer: 'x' })).toEqual({ by: 'commit', result: 'ISSUED' });
        await new Promise((r) => setTimeout(r, 20));
        expect(await protocol.admit({ shelf, buyer: 'x' })).toEqual({
          by: 'gate',
          outcome: 'ALREADY_ISSUED',
        });
        expect(db.commits).toBe(1);
        await protocol.close();
      });
    },
  );
}
