/**
 * The admission protocol, written once for every kind of unit many clients race for:
 *
 *   reserve    one atomic step in the fast gate (memory, or one Lua script): a holder already? none
 *              left? else a unit is taken and a pending mark written. Most of a spike ends here.
 *   commit     the reservation joins the kind's next group commit; PostgreSQL decides on its own
 *              (row locks, unique keys, CHECKs), whatever the gate believed.
 *   settle     the pending mark is cleared with PostgreSQL's answer; a failed commit gives the unit
 *              back at once. Settles are fire-and-forget: the answer waits for the commit only.
 *   reconcile  after a crash, pending marks older than a bound are confirmed (a row exists) or
 *              given back (none), and remaining is realigned with PostgreSQL; a gate whose state
 *              was lost (NOT_LOADED) is rebuilt from a PostgreSQL snapshot before it answers again.
 *
 * When the gate is unusable (its breaker is open, or a call fails) the request goes straight to
 * the commit, which is exact by itself: slower under a spike, never wrong.
 *
 * A kind of unit supplies a `UnitKind`: its name, how a request names its key and claimant, its SQL
 * (`UnitStore`), and how PostgreSQL's answer settles a reservation. Its keys (and, for a gate of
 * another shape, its scripts) come with the gate the admission factory builds for it.
 */
import type { FastifyBaseLogger } from 'fastify';
import { DependencyUnavailable } from '../breaker.js';
import type { KeyedGroupCommitter } from '../group-committer.js';
import type { Locks } from '../locks.js';
import type { Metrics } from '../metrics.js';
import type { Tracer } from '../tracing.js';
import type { GateBreaker } from './breaker.js';
import type { AdmissionGate, GateSnapshot, SettleOutcome } from './gate.js';

/** A kind of unit's SQL: the truth the gate shields. */
export interface UnitStore<Req, Res> {
  /**
   * The group-commit executor: one transaction per key's share, exact on its own; one result per
   * item. `traceparents[i]` (when tracing is on) goes with item i's outbox event.
   */
  commitBatch(items: Req[], traceparents: readonly (string | null)[]): Promise<Res[]>;
  /** Remaining units and every holder of `key`, read in one snapshot; null when the key does not exist. */
  snapshot(key: string): Promise<GateSnapshot | null>;
  /** Which of these claimants hold a unit of `key` in PostgreSQL. */
  committed(key: string, claimants: string[]): Promise<Set<string>>;
  /** Keys whose gate may hold reservations, with remaining units according to PostgreSQL. */
  activeKeys(): Promise<{ key: string; remaining: number }[]>;
}

export interface UnitKind<Req, Res> {
  /** Names the kind in Redis keys, locks and logs ('coupon'). */
  unit: string;
  /** Labels the kind's group committer in metrics ('coupon-issue'). */
  committer: string;
  store: UnitStore<Req, Res>;
  keyOf(req: Req): string;
  claimantOf(req: Req): string;
  /** What PostgreSQL's answer means for the gate's reservation. */
  settleOutcome(result: Res): SettleOutcome;
}

/** Answered by the gate (nothing was written), or PostgreSQL's own answer for the request. */
export type Admission<Res> =
  | { by: 'gate'; outcome: 'ALREADY_ISSUED' | 'SOLD_OUT' }
  | { by: 'commit'; result: Res };

/** The commit did not happen (PostgreSQL error, shutdown); the reservation was given back. */
export class CommitFailedError extends Error {
  override name = 'CommitFailedError';
}

export interface AdmissionDeps {
  breaker: GateBreaker;
  metrics: Metrics;
  log: FastifyBaseLogger;
  locks: Locks;
  tracer: Tracer;
}

export interface ReconcileOptions {
  /** A pending reservation older than this is checked against PostgreSQL, in ms. */
  staleAfterMs: number;
  /** Period of the reconciler loop, in ms. */
  intervalMs: number;
}

export class AdmissionProtocol<Req, Res> {
  private readonly loading = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  /** The reconciler pass in flight, awaited by close() before the pool goes away. */
  private reconciling: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly kind: UnitKind<Req, Res>,
    private readonly gate: AdmissionGate,
    private readonly committer: KeyedGroupCommitter<Req, Res>,
    private readonly deps: AdmissionDeps,
    private readonly reconcileOptions: ReconcileOptions,
  ) {}

  get gateKind(): 'memory' | 'redis' {
    return this.gate.kind;
  }

  get breakerOpen(): boolean {
    return this.deps.breaker.open;
  }

  /** Requests queued for or inside a commit. */
  get depth(): number {
    return this.committer.depth;
  }

  /** Loads a new key's gate (e.g. right after the coupon was created); on failure it is rebuilt on first use. */
  async prime(key: string, snapshot: GateSnapshot): Promise<void> {
    await this.deps.breaker.execute('load', () => this.gate.load(key, snapshot)).catch(() => {});
  }

  /** Units left in the gate (null when not loaded). */
  remaining(key: string): Promise<number | null> {
    return this.gate.remaining(key);
  }

  /**
   * Reserve → commit → settle for one request. Resolves once PostgreSQL has answered (a committed
   * row, or its refusal) or the gate has refused; rejects with CommitFailedError when the commit
   * did not happen, after giving the reservation back.
   */
  async admit(req: Req, nowMs = Date.now()): Promise<Admission<Res>> {
    const { breaker, metrics, tracer } = this.deps;
    const key = this.kind.keyOf(req);
    const claimant = this.kind.claimantOf(req);
    let reserved = false;
    try {
      const outcome = await tracer.span(
        `${this.kind.unit}.reserve`,
        async (set) => {
          let o = await breaker.execute('reserve', () => this.gate.reserve(key, claimant, nowMs));
          if (o === 'NOT_LOADED') {
            await this.rebuild(key);
            o = await breaker.execute('reserve', () => this.gate.reserve(key, claimant, Date.now()));
          }
          set({ 'stampede.gate.outcome': o });
          return o;
        },
        tracer.enabled ? { 'stampede.gate': this.gate.kind, 'stampede.key': key } : undefined,
      );
      if (outcome === 'ALREADY_ISSUED' || outcome === 'SOLD_OUT') return { by: 'gate', outcome };
      if (outcome === 'RESERVED') reserved = true;
      else metrics.gateFallbacks.inc({ reason: 'not_loaded' });
    } catch (err) {
      metrics.gateFallbacks.inc({
        reason: err instanceof DependencyUnavailable ? 'breaker_open' : 'gate_error',
      });
    }

    let result: Res;
    try {
      result = await tracer.span(`${this.kind.unit}.commit`, () => this.committer.submit(key, req));
    } catch (err) {
      if (reserved) this.settle(key, claimant, 'FAILED');
      this.deps.log.warn({ err, unit: this.kind.unit, key }, 'commit failed; reservation given back');
      throw new CommitFailedError(`${this.kind.unit} ${key}: the commit did not happen`, { cause: err });
    }
    if (reserved) this.settle(key, claimant, this.kind.settleOutcome(result));
    return { by: 'commit', result };
  }

  /** Fire-and-forget: the answer does not wait for it; a lost settle is the reconciler's job. */
  private settle(key: string, claimant: string, outcome: SettleOutcome): void {
    this.deps.breaker
      .execute('settle', () => this.gate.settle(key, claimant, outcome))
      .catch((err) =>
        this.deps.log.debug(
          { err, unit: this.kind.unit, key },
          'settle failed; the reconciler will settle it',
        ),
      );
  }

  /** Rebuilds the gate's state for a key from PostgreSQL; one rebuild at a time per key. */
  private rebuild(key: string): Promise<void> {
    let p = this.loading.get(key);
    if (!p) {
      p = (async () => {
        const snap = await this.kind.store.snapshot(key);
        if (!snap) return;
        await this.deps.breaker.execute('load', () => this.gate.load(key, snap));
        this.deps.metrics.gateRebuilds.inc();
        this.deps.log.info(
          { unit: this.kind.unit, key, remaining: snap.remaining, holders: snap.holders.length },
          'gate rebuilt from PostgreSQL',
        );
      })().finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }

  /**
   * One reconciler pass (no permanent leak): stale pending reservations are checked against
   * PostgreSQL; those with a row are confirmed, those without are given back; then remaining is
   * aligned with PostgreSQL for keys with nothing in flight.
   */
  async reconcile(
    staleAfterMs = this.reconcileOptions.staleAfterMs,
  ): Promise<{ released: number; confirmed: number }> {
    const { metrics, log } = this.deps;
    let released = 0;
    let confirmed = 0;
    for (const { key, remaining } of await this.kind.store.activeKeys()) {
      const stale = await this.gate.stalePending(key, Date.now() - staleAfterMs);
      const held = stale.length ? await this.kind.store.committed(key, stale) : new Set<string>();
      const r = await this.gate.resync(key, {
        remaining,
        committed: stale.filter((c) => held.has(c)),
        uncommitted: stale.filter((c) => !held.has(c)),
      });
      released += r.released;
      confirmed += r.confirmed;
    }
    if (released) metrics.reconciled.inc({ result: 'released' }, released);
    if (confirmed) metrics.reconciled.inc({ result: 'confirmed' }, confirmed);
    if (released || confirmed)
      log.info({ unit: this.kind.unit, released, confirmed }, 'reconciler settled stale reservations');
    return { released, confirmed };
  }

  /** Runs the reconciler every intervalMs, in one process at a time (cluster mode: a Redis lock). */
  start(): void {
    if (this.timer || this.closed) return;
    const { intervalMs } = this.reconcileOptions;
    this.timer = setInterval(() => {
      if (this.reconciling || this.closed) return;
      this.reconciling = this.deps.locks
        .runExclusive(`reconciler:${this.kind.unit}`, intervalMs * 5, () => this.reconcile())
        .then(
          () => {},
          (err) => this.deps.log.warn({ err, unit: this.kind.unit }, 'reconciler pass failed'),
        )
        .finally(() => {
          this.reconciling = null;
        });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the reconciler, waits for a pass in flight, then flushes every pending commit. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.reconciling;
    await this.committer.close();
  }

  health(): { status: 'up' | 'degraded'; detail: string } {
    const open = this.breakerOpen;
    return {
      status: open ? 'degraded' : 'up',
      detail: `${this.gate.kind} gate, breaker ${open ? 'open (PostgreSQL-only path)' : 'closed'}`,
    };
  }
}
