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

const dataError = () => Object.assign(new Error('check violation'), { code: '23514' });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('group committer: splitting after a data error', () => {
  it('runs the halves of a split batch within its concurrency, before later arrivals', async () => {
    let running = 0;
    let peak = 0;
    const attempts: number[][] = [];
    const c = new GroupCommitter<number, number>(
      async (items) => {
        running += 1;
        peak = Math.max(peak, running);
        attempts.push(items);
        await tick(2);
        running -= 1;
        if (items.includes(3)) throw dataError();
        return items.map((i) => i * 10);
      },
      { ...opts, maxBatch: 10, concurrency: 1 },
    );
    const first = Array.from({ length: 10 }, (_, i) => c.submit(i));
    await tick(1); // the first batch (0..9) is in its transaction
    const later = Array.from({ length: 10 }, (_, i) => c.submit(10 + i));
    const settled = await Promise.allSettled([...first, ...later]);

    expect(peak).toBe(1);
    settled.forEach((s, i) => {
      if (i === 3) expect(s.status).toBe('rejected');
      else expect(s).toEqual({ status: 'fulfilled', value: i * 10 });
    });
    // Every item of the failed batch is decided before any later arrival (arrival order kept).
    const firstLater = attempts.findIndex((b) => b.some((i) => i >= 10));
    const lastSplit = attempts.findLastIndex((b) => b.some((i) => i < 10));
    expect(lastSplit).toBeLessThan(firstLater);
  });

  it('counts the items of a split batch in depth until each one settles', async () => {
    const depthSeen: { size: number; depth: number }[] = [];
    const c = new GroupCommitter<number, number>(
      async (items) => {
        depthSeen.push({ size: items.length, depth: c.depth });
        await tick(1);
        if (items.includes(7)) throw dataError();
        return items;
      },
      { ...opts, maxBatch: 8, concurrency: 1 },
    );
    const settled = Promise.allSettled(Array.from({ length: 8 }, (_, i) => c.submit(i)));
    await tick(0);
    expect(c.depth).toBe(8);
    await settled;
    expect(c.depth).toBe(0);
    // The split retries 8 → 4+4 → 2+2 → 1+1; depth is what is not settled yet.
    expect(depthSeen).toEqual([
      { size: 8, depth: 8 },
      { size: 4, depth: 8 },
      { size: 4, depth: 4 },
      { size: 2, depth: 4 },
      { size: 2, depth: 2 },
      { size: 1, depth: 2 },
      { size: 1, depth: 1 },
    ]);
  });

  it('settles every caller exactly once, with its own result, however deep the split', async () => {
    const bad = new Set([0, 5, 6, 31, 63]);
    const c = new GroupCommitter<number, string>(
      async (items) => {
        if (items.some((i) => bad.has(i))) throw dataError();
        return items.map((i) => `r${i}`);
      },
      { ...opts, maxBatch: 64, concurrency: 2 },
    );
    const settled = await Promise.allSettled(Array.from({ length: 64 }, (_, i) => c.submit(i)));
    settled.forEach((s, i) => {
      if (bad.has(i)) expect(s.status).toBe('rejected');
      else expect(s).toEqual({ status: 'fulfilled', value: `r${i}` });
    });
    expect(c.depth).toBe(0);
  });
});

describe('group committer: the onBatch metrics hook', () => {
  it('fires exactly once per attempt, ok=false when the executor returns the wrong count', async () => {
    const calls: [number, boolean][] = [];
    const c = new GroupCommitter<number, number>(async (items) => items.slice(1), {
      ...opts,
      maxBatch: 4,
      onBatch: (size, _s, ok) => calls.push([size, ok]),
    });
    const settled = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => c.submit(i)));
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(calls).toEqual([[4, false]]);
  });

  it('fires exactly once per attempt of a split batch', async () => {
    let attempts = 0;
    const calls: [number, boolean][] = [];
    const c = new GroupCommitter<number, number>(
      async (items) => {
        attempts += 1;
        if (items.includes(2)) throw dataError();
        return items;
      },
      { ...opts, maxBatch: 4, concurrency: 1, onBatch: (size, _s, ok) => calls.push([size, ok]) },
    );
    await Promise.allSettled(Array.from({ length: 4 }, (_, i) => c.submit(i)));
    expect(calls).toHaveLength(attempts);
    expect(calls).toEqual([
      [4, false],
      [2, true],
      [2, false],
      [1, false],
      [1, true],
    ]);
  });

  it('a throwing onBatch hook never turns a committed batch into a failure', async () => {
    const c = new GroupCommitter<number, number>(async (items) => items, {
      ...opts,
      onBatch: () => {
        throw new Error('metrics broke');
      },
    });
    await expect(Promise.all([c.submit(1), c.submit(2)])).resolves.toEqual([1, 2]);
  });
});

describe('keyed group committer: idle keys are evicted', () => {
  it('drops the committer of a key once it is idle, so keys do not accumulate', async () => {
    const c = new KeyedGroupCommitter<string, string>(async (items) => items, { ...opts, concurrency: 1 });
    await Promise.all(Array.from({ length: 500 }, (_, i) => c.submit(`k${i}`, `v${i}`)));
    expect(c.keys).toBe(0);
    expect(c.depth).toBe(0);
    await c.close();
  });

  it('commits an item submitted the moment its key goes idle (no item lost to eviction)', async () => {
    const committed: string[] = [];
    const c = new KeyedGroupCommitter<string, string>(
      async (items) => {
        await tick(1);
        committed.push(...items);
        return items;
      },
      { ...opts, concurrency: 1 },
    );
    // Each answer immediately submits the next item of the same key, racing the key's eviction.
    const chain = async (n: number): Promise<number> => {
      let done = 0;
      for (let i = 0; i < n; i++) {
        await c.submit('hot', `x${i}`);
        done += 1;
      }
      return done;
    };
    await expect(Promise.all([chain(20), chain(20)])).resolves.toEqual([20, 20]);
    expect(committed).toHaveLength(40);
    expect(c.keys).toBe(0);
    await c.close();
  });

  it('close() still waits for every key with queued or running work, then refuses new work', async () => {
    let committed = 0;
    const c = new KeyedGroupCommitter<number, number>(
      async (items) => {
        await tick(5);
        committed += items.length;
        return items;
      },
      { ...opts, maxBatch: 5, concurrency: 1 },
    );
    const all = Promise.all(Array.from({ length: 60 }, (_, i) => c.submit(`k${i % 4}`, i)));
    expect(c.depth).toBe(60);
    await c.close();
    expect(committed).toBe(60);
    expect(c.depth).toBe(0);
    expect(c.keys).toBe(0);
    await all;
    await expect(c.submit('k0', 1)).rejects.toBeInstanceOf(CommitterClosedError);
  });
});
