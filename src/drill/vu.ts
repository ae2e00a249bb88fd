/**
 * A virtual user: what a scenario's iteration sees (k6's `__VU`, `exec.scenario.iterationInTest`,
 * http, check, sleep). VUs are cheap objects here — async loops on one event loop — so
 * allocating hundreds is free; the limit that matters is the generator's CPU (see health.ts).
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { Answer, LoadClient, RequestSpec, StreamEnd } from './http.js';
import type { Metric } from './metrics.js';
import { mulberry32, type Rng } from './random.js';
import type { SseEvent } from './sse.js';

/** k6's root_group checks: passes and fails per check name. */
export class Checks {
  readonly byName = new Map<string, { passes: number; fails: number }>();
  constructor(private readonly metric: Metric) {}

  record(name: string, ok: boolean): boolean {
    let c = this.byName.get(name);
    if (!c) {
      c = { passes: 0, fails: 0 };
      this.byName.set(name, c);
    }
    if (ok) c.passes++;
    else c.fails++;
    this.metric.add(ok, { check: name });
    return ok;
  }
}

export class VirtualUser {
  /** Global 0-based index of the iteration this VU is running (unique across VUs). */
  iterationInTest = -1;
  /** The open model's scheduled start (performance.now() ms) for the next request, if any. */
  scheduledStart: number | undefined;
  private controller = new AbortController();
  readonly rng: Rng;

  constructor(
    /** 1-based, like k6's __VU. */
    readonly id: number,
    private readonly client: LoadClient,
    private readonly checks: Checks,
    seed: number,
  ) {
    this.rng = mulberry32(seed ^ Math.imul(id, 0x9e3779b1));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * One HTTP request, recorded in the run's metrics. The first request of an open-model iteration
   * is timed from the iteration's scheduled start.
   */
  request(spec: RequestSpec): Promise<Answer> {
    const since = this.scheduledStart;
    this.scheduledStart = undefined;
    return this.client.request(spec, this.controller.signal, since);
  }

  /** An event stream, its opening recorded as a request; `onEvent` returns true to stop. */
  stream(spec: Omit<RequestSpec, 'method' | 'body'>, onEvent: (e: SseEvent) => boolean): Promise<StreamEnd> {
    this.scheduledStart = undefined;
    return this.client.stream(spec, this.controller.signal, onEvent);
  }

  check(ok: boolean, name: string): boolean {
    return this.checks.record(name, ok);
  }

  /** Pauses the VU (think time); resolves early, without throwing, when the VU is stopped. */
  async sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.signal.aborted) return;
    await sleepMs(ms, undefined, { signal: this.signal }).catch(() => {});
  }

  /** Interrupts whatever the VU is doing (graceful stop expired). */
  abort(): void {
    this.controller.abort();
  }

  /** A stopped VU can be reused (open model pool) with a fresh signal. */
  revive(): void {
    if (this.controller.signal.aborted) this.controller = new AbortController();
  }
}

export type IterationFn = (vu: VirtualUser) => Promise<void>;
