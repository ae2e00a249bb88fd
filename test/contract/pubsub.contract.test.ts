/**
 * One contract, two adapters: pub/sub in process (embedded mode) and over Redis (cluster mode),
 * where every "process" below is a pub/sub instance of its own (own subscriber connection).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { memoryPubSub, type PubSub, redisPubSub } from '../../src/infra/pubsub.js';
import { createRedis } from '../../src/infra/redis/client.js';

const log = pino({ level: 'silent' });

interface Deployment {
  /** Another process of the same deployment (memory: the same process). */
  process(): Promise<PubSub>;
  /** A process of another deployment sharing the server (other key prefix). */
  stranger(): Promise<PubSub>;
  done(): Promise<void>;
}

const adapters: { name: string; needsRedis: boolean; make: () => Deployment }[] = [
  {
    name: 'memory',
    needsRedis: false,
    make: () => {
      const shared = memoryPubSub(log);
      return {
        process: async () => shared,
        stranger: async () => memoryPubSub(log),
        done: async () => shared.close(),
      };
    },
  },
  {
    name: 'redis',
    needsRedis: true,
    make: () => {
      const url = inject('redisUrl');
      const prefix = `stampede-test:${randomBytes(4).toString('hex')}:`;
      const opened: { disconnect(): void }[] = [];
      const open = async (p: string) => {
        const redis = createRedis(url);
        const sub = new Redis(url);
        opened.push(redis, sub);
        return redisPubSub(redis, sub, p, log);
      };
      return {
        process: () => open(prefix),
        stranger: () => open(`${prefix}other:`),
        done: async () => {
          for (const r of opened) r.disconnect();
        },
      };
    },
  },
];

/** Resolves with the messages `n` deliveries have brought, or what arrived within `ms`. */
function collect(ps: PubSub, channel: string) {
  const got: string[] = [];
  const ready = ps.subscribe(channel, (m) => got.push(m));
  return {
    got,
    ready,
    async until(n: number, ms = 2_000) {
      const end = Date.now() + ms;
      while (got.length < n && Date.now() < end) await sleep(5);
      return got;
    },
  };
}

for (const adapter of adapters) {
  describe.skipIf(adapter.needsRedis && !inject('redisAvailable'))(
    `pub/sub contract: ${adapter.name}`,
    () => {
      const d = adapter.make();
      afterAll(() => d.done());

      it('delivers every message to every subscribed process, in publication order', async () => {
        const a = await d.process();
        const b = await d.process();
        const ca = collect(a, 'order');
        const cb = collect(b, 'order');
        await Promise.all([ca.ready, cb.ready]);
        const sent = Array.from({ length: 200 }, (_, i) => `m${i}`);
        for (const m of sent) await a.publish('order', m);
        expect(await ca.until(200)).toEqual(sent);
        expect(await cb.until(200)).toEqual(sent);
      });

      it('never delivers inside publish (handlers run after the publisher moves on)', async () => {
        const a = await d.process();
        let inside = false;
        let during = false;
        await a.subscribe('async', () => {
          during ||= inside;
        });
        inside = true;
        const p = a.publish('async', 'x');
        inside = false;
        await p;
        await sleep(50);
        expect(during).toBe(false);
      });

      it('keeps channels apart, and deployments sharing a server apart', async () => {
        const a = await d.process();
        const other = await d.stranger();
        const right = collect(a, 'room:1');
        const wrong = collect(a, 'room:2');
        const foreign = collect(other, 'room:1');
        await Promise.all([right.ready, wrong.ready, foreign.ready]);
        await a.publish('room:1', 'hello');
        expect(await right.until(1)).toEqual(['hello']);
        await sleep(100);
        expect(wrong.got).toEqual([]);
        expect(foreign.got).toEqual([]);
      });

      it('stops delivering to a handler once unsubscribed, and keeps the others', async () => {
        const a = await d.process();
        const kept: string[] = [];
        const dropped: string[] = [];
        await a.subscribe('unsub', (m) => kept.push(m));
        const off = await a.subscribe('unsub', (m) => dropped.push(m));
        await a.publish('unsub', '1');
        const end = Date.now() + 2_000;
        while ((kept.length < 1 || dropped.length < 1) && Date.now() < end) await sleep(5);
        await off();
        await a.publish('unsub', '2');
        while (kept.length < 2 && Date.now() < end) await sleep(5);
        await sleep(50);
        expect(kept).toEqual(['1', '2']);
        expect(dropped).toEqual(['1']);
      });

      it('a throwing handler does not stop the others', async () => {
        const a = await d.process();
        const got: string[] = [];
        await a.subscribe('throws', () => {
          throw new Error('handler bug');
        });
        await a.subscribe('throws', (m) => got.push(m));
        await a.publish('throws', 'still');
        const end = Date.now() + 2_000;
        while (got.length < 1 && Date.now() < end) await sleep(5);
        expect(got).toEqual(['still']);
      });

      it('close() drops every subscription of the process', async () => {
        const a = await d.stranger();
        const got: string[] = [];
        await a.subscribe('closing', (m) => got.push(m));
        await a.close();
        await a.publish('closing', 'late');
        await sleep(100);
        expect(got).toEqual([]);
      });
    },
  );
}
