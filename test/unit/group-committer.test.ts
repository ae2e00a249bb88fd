import { describe, expect, it } from 'vitest';
import {
  CommitterClosedError,
  GroupCommitter,
  KeyedGroupCommitter,
} from '../../src/infra/group-committer.js';

const opts = { name: 't', maxBatch: 100, maxWaitMs: 1, concurrency: 2 };

describe('group committer', () => {
  it('groups concurrent submissions into few transactions and answers each in order', async () => {
    const batches: number[][] = [];
    const c = new GroupCommitter<number, number>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((i) => i * 2);
    }, opts);
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => c.submit(i)));
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i * 2));
    expect(batches.length).toBeLessThanOrEqual(20);
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(100);
  });

  it('never runs more transactions at once than its concurrency', async () => {
    let running = 0;
    let peak = 0;
    const c = new GroupCommitter<number, number>(
      async (items) => {
        running += 1;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 3));
        running -= 1;
        return items;
      },
      { ...opts, maxBatch: 5 },
    );
    await Promise.all(Array.from({ length: 200 }, (_, i) => c.submit(i)));
    expect(peak).toBe(2);
  });

  it('splits a batch that fails on a data error so one bad row cannot fail its neighbours', async () => {
    const c = new GroupCommitter<number, number>(async (items) => {
      if (items.includes(13)) throw Object.assign(new Error('check violation'), { code: '23514' });
      return items;
    }, opts);
    const settled = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => c.submit(i)));
    const failed = settled.map((s, i) => (s.status === 'rejected' ? i : -1)).filter((i) => i >= 0);
    expect(failed).toEqual([13]);
  });

  it('rejects the whole batch on a non-data failure (connection lost), so callers compensate', async () => {
    const c = new GroupCommitter<number, number>(async () => {
      throw Object.assign(new Error('connection terminated'), { code: '57P01' });
    }, opts);
    const settled = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => c.submit(i)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
  });

  it('close() flushes everything queued, then refuses new work', async () => {
    let committed = 0;
    const c = new GroupCommitter<number, number>(
      async (items) => {
        await new Promise((r) => setTimeout(r, 10));
        committed += items.length;
        return items;
      },
      { ...opts, maxBatch: 10, concurrency: 1 },
    );
    const all = Promise.all(Array.from({ length: 95 }, (_, i) => c.submit(i)));
    await c.close();
    expect(committed).toBe(95);
    await all;
    await expect(c.submit(1)).rejects.toBeInstanceOf(CommitterClosedError);
  });

  it('keyed: batches of one key never include another key, and keys commit in parallel', async () => {
    const batches: string[][] = [];
    let running = 0;
    let peak = 0;
    const c = new KeyedGroupCommitter<string, string>(
      async (items) => {
        running += 1;
        peak = Math.max(peak, running);
        batches.push(items);
        await new Promise((r) => setTimeout(r, 5));
        running -= 1;
        return items;
      },
      { ...opts, concurrency: 1 },
    );
    const keys = ['a', 'b', 'c'];
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => c.submit(keys[i % 3], keys[i % 3])),
    );
    expect(results.filter((r) => r === 'a')).toHaveLength(100);
    for (const b of batches) expect(new Set(b).size).toBe(1);
    expect(peak).toBe(3);
    await c.close();
    await expect(c.submit('a', 'a')).rejects.toBeInstanceOf(CommitterClosedError);
  });
});
