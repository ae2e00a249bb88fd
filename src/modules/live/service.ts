/**
 * The live operations view. Once a second, on the second, every process cuts its frame (requests,
 * business counters, gauges: src/infra/live/frames.ts, sampler.ts) and appends it to the frame
 * store, where the frames of all processes meet (memory in embedded mode, Redis in cluster mode).
 * Then it merges the frames of one finished second — the one just ended in embedded mode, the one
 * before in cluster mode, so every process's frame has arrived — into a snapshot, which goes to
 * every open live stream of this process and to the alert rules.
 *
 * History (a page opened late) is merged from the stored frames, downsampled to at most
 * MAX_POINTS snapshots, each with the alerts that were firing during it.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { EventStream } from '../../http/streams.js';
import type { FrameStore } from '../../infra/live/frame-store.js';
import { type Frame, mergeFrames } from '../../infra/live/frames.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Sampler } from './sampler.js';
import { type AlertView, type Snapshot, toSnapshot } from './snapshot.js';

/** A history answer has at most this many snapshots (longer spans are merged into buckets). */
export const MAX_POINTS = 600;
/** Snapshots waiting for the alert rules at most (a minute). */
const MAX_PENDING_EVALUATIONS = 60;

export interface LiveOptions {
  /** Seconds between a second's end and its snapshot: 0 in embedded mode, 1 in cluster mode. */
  settleSeconds: number;
}

/** Something that reads every snapshot (the alert rules) and says what is firing. */
export interface SnapshotListener {
  observe(s: Snapshot): Promise<void>;
  firing(): AlertView[];
  /** Every alert that was firing at some moment since `fromMs`. */
  since(fromMs: number): Promise<AlertView[]>;
}

export class LiveService {
  readonly processId = `${process.pid}-${randomBytes(3).toString('hex')}`;
  private timer: NodeJS.Timeout | null = null;
  private readonly streams = new Set<EventStream>();
  private latest: Snapshot | null = null;
  private ticking: Promise<void> | null = null;
  private listener: SnapshotListener | null = null;
  private readonly pendingEvaluations: Snapshot[] = [];
  private evaluating: Promise<void> | null = null;

  constructor(
    private readonly store: FrameStore,
    private readonly sampler: Sampler,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
    private readonly opts: LiveOptions,
  ) {}

  /** The alert rules, set once by the module (they need the service's snapshots). */
  listen(listener: SnapshotListener): void {
    this.listener = listener;
  }

  start(): void {
    if (this.timer) return;
    const schedule = () => {
      const wait = 1_000 - (Date.now() % 1_000) + 20;
      this.timer = setTimeout(() => {
        this.ticking ??= this.tick()
          .catch((err) => this.log.warn({ err }, 'live frame failed; the next second goes on'))
          .finally(() => {
            this.ticking = null;
          });
        schedule();
      }, wait);
      this.timer.unref();
    };
    schedule();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.ticking;
    this.pendingEvaluations.length = 0;
    await this.evaluating;
    for (const s of this.streams) s.close();
    this.streams.clear();
    this.sampler.close();
  }

  /** One second: cut and store this process's frame, then publish the settled second's snapshot. */
  async tick(now = Date.now()): Promise<void> {
    const ended = Math.floor(now / 1_000) * 1_000 - 1_000;
    const frame: Frame = this.metrics.frames.cut(
      ended,
      this.processId,
      await this.sampler.counts(),
      await this.sampler.gauges(),
    );
    await this.store.append(frame);
    const at = ended - this.opts.settleSeconds * 1_000;
    const merged = mergeFrames(await this.store.range(at, at + 1_000), at, 1);
    const snapshot = toSnapshot(merged, []);
    if (this.listener) {
      snapshot.alerts = this.listener.firing();
      // A second no process reported (a tick missed, the store unreachable) is no data, not health.
      if (merged.processes > 0) this.evaluate(snapshot);
    }
    this.latest = snapshot;
    for (const s of this.streams)
      if (!s.send({ event: 'snapshot', data: snapshot, id: merged.at })) this.dropSlow(s);
  }

  /**
   * The alert rules read every snapshot in order, off the tick: they need PostgreSQL, and a slow
   * database must never cost a frame (each second is cut on time, whatever the rules are doing).
   * Snapshots wait in a bounded queue while an evaluation runs; beyond it the oldest are dropped.
   */
  private evaluate(snapshot: Snapshot): void {
    this.pendingEvaluations.push(snapshot);
    if (this.pendingEvaluations.length > MAX_PENDING_EVALUATIONS) {
      this.pendingEvaluations.shift();
      this.log.warn('alert rules fell a minute behind; the oldest second was skipped');
    }
    this.evaluating ??= (async () => {
      for (let s = this.pendingEvaluations.shift(); s; s = this.pendingEvaluations.shift())
        await this.listener
          ?.observe(s)
          .catch((err) => this.log.debug({ err }, 'alert rules could not be evaluated this second'));
    })().finally(() => {
      this.evaluating = null;
    });
  }

  private dropSlow(s: EventStream): void {
    if (s.closed) this.streams.delete(s);
  }

  /** A new live stream: the latest snapshot at once, then one a second. */
  watch(stream: EventStream): void {
    this.streams.add(stream);
    stream.onClose(() => this.streams.delete(stream));
    if (this.latest) stream.send({ event: 'snapshot', data: this.latest, id: Date.parse(this.latest.at) });
  }

  /** Snapshots of the last `minutes`, oldest first, at most MAX_POINTS (buckets of equal seconds). */
  async history(minutes: number, now = Date.now()): Promise<Snapshot[]> {
    const end = Math.floor(now / 1_000) * 1_000 - this.opts.settleSeconds * 1_000;
    const start = end - minutes * 60_000;
    const frames = await this.store.range(start, end);
    const step = Math.max(1, Math.ceil((minutes * 60) / MAX_POINTS));
    const buckets = new Map<number, Frame[]>();
    for (const f of frames) {
      const b = start + Math.floor((f.at - start) / (step * 1_000)) * step * 1_000;
      const list = buckets.get(b);
      if (list) list.push(f);
      else buckets.set(b, [f]);
    }
    const alerts = (await this.listener?.since(start).catch(() => [])) ?? [];
    const firingIn = (from: number, to: number) =>
      alerts.filter(
        (a) => Date.parse(a.startedAt) < to && (!a.resolvedAt || Date.parse(a.resolvedAt) > from),
      );
    return [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([at, list]) => toSnapshot(mergeFrames(list, at, step), firingIn(at, at + step * 1_000)));
  }

  health(): { status: 'up'; detail: string } {
    return {
      status: 'up',
      detail: `${this.store.kind} frames; ${this.streams.size} live stream${this.streams.size === 1 ? '' : 's'}`,
    };
  }
}
