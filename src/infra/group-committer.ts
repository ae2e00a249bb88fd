/**
 * Group commit: many requests' rows go to PostgreSQL in one transaction, so durability costs one
 * fsync per batch instead of one per request (invariant 3: acknowledged = durable, cheaply).
 *
 * submit() resolves only after the transaction holding the item has committed (or rejects when it
 * did not). Batches form naturally: while `concurrency` transactions are in flight, new items queue;
 * a batch is flushed when it reaches `maxBatch` or when it has waited `maxWaitMs` and a slot is free.
 *
 * A batch that fails with a data error (SQLSTATE class 22/23) is split in halves and retried, so one
 * bad row cannot fail its neighbours; any other failure (connection lost, timeout) rejects the whole
 * batch and each caller compensates (gives its gate reservation back).
 */

export interface CommitterOptions {
  name: string;
  maxBatch: number;
  maxWaitMs: number;
  concurrency: number;
  onBatch?: (size: number, seconds: number, ok: boolean) => void;
}

/** Runs one transaction for the batch; returns one result per item, in order. */
export type BatchExecutor<I, R> = (items: I[]) => Promise<R[]>;

interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class CommitterClosedError extends Error {
  override name = 'CommitterClosedError';
}

function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

export class GroupCommitter<I, R> {
  private queue: Pending<I, R>[] = [];
  private inFlight = 0;
  /** Items in transactions that are running. */
  private inFlightItems = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly execute: BatchExecutor<I, R>,
    private readonly opts: CommitterOptions,
  ) {}

  /** Resolves with the item's result once its transaction committed. */
  submit(item: I): Promise<R> {
    if (this.closed) return Promise.reject(new CommitterClosedError(`${this.opts.name} committer is closed`));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a transaction or in one that is running (the hot path's pressure). */
  get depth(): number {
    return this.queue.length + this.inFlightItems;
  }

  private schedule(): void {
    if (this.inFlight >= this.opts.concurrency) return; // a finishing flush picks the queue up
    if (this.queue.length >= this.opts.maxBatch || this.opts.maxWaitMs === 0) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.opts.maxWaitMs);
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.queue.length > 0 && this.inFlight < this.opts.concurrency) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight += 1;
      this.inFlightItems += batch.length;
      void this.run(batch).finally(() => {
        this.inFlight -= 1;
        this.inFlightItems -= batch.length;
        if (this.queue.length > 0) this.flush();
        else if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async run(batch: Pending<I, R>[]): Promise<void> {
    const started = performance.now();
    try {
      const results = await this.execute(batch.map((p) => p.item));
      this.opts.onBatch?.(batch.length, (performance.now() - started) / 1000, true);
      if (results.length !== batch.length)
        throw new Error(`${this.opts.name}: executor returned wrong count`);
      for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
    } catch (err) {
      this.opts.onBatch?.(batch.length, (performance.now() - started) / 1000, false);
      if (batch.length > 1 && isDataError(err)) {
        const mid = batch.length >> 1;
        await Promise.all([this.run(batch.slice(0, mid)), this.run(batch.slice(mid))]);
        return;
      }
      for (const p of batch) p.reject(err);
    }
  }

  /** Stops taking items and resolves once everything queued has been committed or failed. */
  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.queue.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * One group committer per key (e.g. per coupon): batches of one key never wait behind another key's,
 * and `concurrency` bounds the transactions in flight per key. For a hot key whose transactions
 * serialise on a row lock anyway, a small per-key concurrency lets each batch take everything that
 * queued while the previous one was committing — bigger batches, fewer fsyncs, less lock traffic.
 */
export class KeyedGroupCommitter<I, R> {
  private readonly committers = new Map<string, GroupCommitter<I, R>>();
  private closed = false;

  constructor(
    private readonly execute: BatchExecutor<I, R>,
    private readonly opts: CommitterOptions,
  ) {}

  submit(key: string, item: I): Promise<R> {
    if (this.closed) return Promise.reject(new CommitterClosedError(`${this.opts.name} committer is closed`));
    let c = this.committers.get(key);
    if (!c) {
      c = new GroupCommitter(this.execute, this.opts);
      this.committers.set(key, c);
    }
    return c.submit(item);
  }

  get depth(): number {
    let d = 0;
    for (const c of this.committers.values()) d += c.depth;
    return d;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.committers.values()].map((c) => c.close()));
  }
}
