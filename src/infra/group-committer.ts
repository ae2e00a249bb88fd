/**
 * Group commit: many requests' rows go to PostgreSQL in one transaction, so durability costs one
 * fsync per batch instead of one per request (acknowledged = durable, cheaply).
 *
 * Promises:
 *   - submit() resolves only after the transaction holding the item has committed, and rejects when
 *     it did not; every caller's promise settles exactly once, with its own item's result.
 *   - At most `concurrency` transactions run at once, retries of a split batch included.
 *   - Batches form naturally: while `concurrency` transactions are in flight, new items queue; a
 *     batch is flushed when it reaches `maxBatch` or when it has waited `maxWaitMs` and a slot is free.
 *   - A batch that fails with a data error (SQLSTATE class 22/23) is split in halves and retried, so
 *     one bad row cannot fail its neighbours; any other failure (connection lost, timeout, an
 *     executor returning the wrong number of results) rejects the whole batch and each caller
 *     compensates (gives its gate reservation back).
 *   - `onBatch` fires exactly once per executor attempt (a split batch's retries are attempts too);
 *     a hook that throws is ignored and never changes an item's outcome.
 *   - `depth` is every item submitted and not yet settled: queued, in a transaction, or waiting for
 *     a retry of its split batch.
 */

import type { Carried, Tracer } from './tracing.js';

export interface CommitterOptions {
  name: string;
  maxBatch: number;
  maxWaitMs: number;
  concurrency: number;
  onBatch?: (size: number, seconds: number, ok: boolean) => void;
  /**
   * Each attempt runs in a span `commit <name>` linking the spans of the requests it carries (taken
   * when they were submitted); absent or off: no tracing.
   */
  tracer?: Tracer;
}

/**
 * Runs one transaction for the batch; returns one result per item, in order. `traceparents[i]` is
 * the W3C traceparent of item i's request when tracing is on (an outbox event it writes keeps it);
 * with tracing off the array is empty.
 */
export type BatchExecutor<I, R> = (items: I[], traceparents: readonly (string | null)[]) => Promise<R[]>;

const NO_TRACEPARENTS: readonly (string | null)[] = Object.freeze([]);

interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
  /** The submitting request's span, when tracing is on. */
  carried?: Carried;
}

type Attempt<R> = { ok: true; results: R[] } | { ok: false; err: unknown };

export class CommitterClosedError extends Error {
  override name = 'CommitterClosedError';
}

function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

export class GroupCommitter<I, R> {
  private queue: Pending<I, R>[] = [];
  /** Slots taken: batches whose transaction (or split retries) are running. */
  private inFlight = 0;
  /** Items taken from the queue into a slot and not settled yet. */
  private inFlightItems = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  /**
   * `onIdle` is called synchronously each time the committer becomes idle (queue empty, no slot
   * taken) after a batch; nothing can be submitted between the idle check and the call.
   */
  constructor(
    private readonly execute: BatchExecutor<I, R>,
    private readonly opts: CommitterOptions,
    private readonly onIdle?: () => void,
  ) {}

  /** Resolves with the item's result once its transaction committed. */
  submit(item: I): Promise<R> {
    if (this.closed) return Promise.reject(new CommitterClosedError(`${this.opts.name} committer is closed`));
    const carried = this.opts.tracer?.carry();
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject, carried });
      this.schedule();
    });
  }

  /** Items waiting for a transaction or in one that is running (the hot path's pressure). */
  get depth(): number {
    return this.queue.length + this.inFlightItems;
  }

  /** Nothing queued and no transaction running. */
  get idle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0;
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
        if (this.queue.length > 0) this.flush();
        else if (this.inFlight === 0) {
          for (const w of this.idleWaiters.splice(0)) w();
          this.onIdle?.();
        }
      });
    }
  }

  /**
   * Runs a batch in the slot it was given and settles each of its items exactly once.
   *
   * A batch split after a data error retries its halves here, one after the other, inside the same
   * slot, rather than going back to the queue: the retries are counted by `inFlight` (the slot stays
   * taken until the last half settles) and by `depth` (items leave `inFlightItems` only as they
   * settle), so `concurrency` holds for them too; the first half is decided before the second, so
   * arrival order (first come, first served) is kept within the batch and, with concurrency 1, ahead
   * of everything queued behind it; and no later item can be merged into a retry, so the split
   * converges on one bad row in about 2·log2(size) attempts. The cost is that those retries are sequential, which only matters
   * for a batch that already failed.
   */
  private async run(batch: Pending<I, R>[]): Promise<void> {
    const attempt = await this.attempt(batch);
    if (attempt.ok) {
      this.inFlightItems -= batch.length;
      for (let i = 0; i < batch.length; i++) batch[i].resolve(attempt.results[i]);
      return;
    }
    if (batch.length > 1 && isDataError(attempt.err)) {
      const mid = batch.length >> 1;
      await this.run(batch.slice(0, mid));
      await this.run(batch.slice(mid));
      return;
    }
    this.inFlightItems -= batch.length;
    for (const p of batch) p.reject(attempt.err);
  }

  /** One executor call; never throws. Reports it to `onBatch` exactly once. */
  private async attempt(batch: Pending<I, R>[]): Promise<Attempt<R>> {
    const started = performance.now();
    let attempt: Attempt<R>;
    try {
      const items = batch.map((p) => p.item);
      const { tracer } = this.opts;
      const results = tracer?.enabled
        ? await tracer.batch(
            `commit ${this.opts.name}`,
            batch.map((p) => p.carried),
            () =>
              this.execute(
                items,
                batch.map((p) => (p.carried ? tracer.traceparent(p.carried) : null)),
              ),
          )
        : await this.execute(items, NO_TRACEPARENTS);
      attempt =
        results.length === batch.length
          ? { ok: true, results }
          : {
              ok: false,
              err: new Error(
                `${this.opts.name}: executor returned ${results.length} results for ${batch.length} items`,
              ),
            };
    } catch (err) {
      attempt = { ok: false, err };
    }
    try {
      this.opts.onBatch?.(batch.length, (performance.now() - started) / 1000, attempt.ok);
    } catch {
      // A metrics hook must not decide whether a committed transaction is acknowledged.
    }
    return attempt;
  }

  /** Stops taking items and resolves once everything queued has been committed or failed. */
  async close(): Promise<void> {
    this.closed = true;
    this.flush();
    if (this.idle) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}

/**
 * One group committer per key (e.g. per coupon): batches of one key never wait behind another key's,
 * and `concurrency` bounds the transactions in flight per key. For a hot key whose transactions
 * serialise on a row lock anyway, a small per-key concurrency lets each batch take everything that
 * queued while the previous one was committing — bigger batches, fewer fsyncs, less lock traffic.
 *
 * A key's committer exists only while the key has work: it is created by the first submit and
 * removed the moment it becomes idle (queue empty, nothing in flight), so memory follows the keys
 * that are busy now, not every key ever seen. Eviction cannot lose an item: the committer reports
 * idleness synchronously and is removed in that same turn of the event loop, so an item submitted
 * before it goes to the old committer (which then is not idle and is kept), and one submitted after
 * finds no committer and gets a new one. An idle committer holds nothing, so dropping it cannot
 * drop work, and there are never two committers with work for one key (per-key concurrency holds).
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
      const created: GroupCommitter<I, R> = new GroupCommitter(this.execute, this.opts, () => {
        if (this.committers.get(key) === created && created.idle) this.committers.delete(key);
      });
      c = created;
      this.committers.set(key, c);
    }
    return c.submit(item);
  }

  /** Items queued or in flight, over all keys. */
  get depth(): number {
    let d = 0;
    for (const c of this.committers.values()) d += c.depth;
    return d;
  }

  /** Keys with a committer, i.e. with work queued or in flight. */
  get keys(): number {
    return this.committers.size;
  }

  /**
   * Stops taking items and resolves once every key's queued and running work has settled. No
   * committer can be created after `closed` is set, and evicted ones were idle, so waiting for the
   * committers present now waits for everything.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.committers.values()].map((c) => c.close()));
  }
}
