/**
 * A closed-model load, for flows autocannon cannot express (each request depends on the answer
 * before it): N virtual users, each an async loop over its iterations, sharing one keep-alive
 * undici pool with a connection per user, for a bounded time. Every request is timed (µs HDR
 * histograms) into its step and into "all requests", and its answer counted by status and problem
 * code. At the deadline no new request starts; requests in flight end with their answer or their
 * timeout, so the run stops by itself.
 */
import type { Histogram } from 'hdr-histogram-js';
import { Agent, request } from 'undici';
import { microsecondHistogram } from '../../src/drill/metrics.js';

export const ALL_REQUESTS = 'all requests';

export interface VuAnswer {
  /** HTTP status; 0 when no answer arrived (timeout, connection error). */
  status: number;
  /** `code` of a problem+json answer, else null. */
  code: string | null;
  json: unknown;
}

export interface StepFigures {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  /** Answers by label: "200", "409 SEAT_UNAVAILABLE", "no answer". */
  answers: Record<string, number>;
}

/** Latencies and answers per step, in the order the steps were first seen. */
export class StepRecorder {
  private readonly steps = new Map<string, { hist: Histogram; answers: Record<string, number> }>();

  record(step: string, ms: number, answer: string): void {
    let s = this.steps.get(step);
    if (!s) {
      s = { hist: microsecondHistogram(), answers: {} };
      this.steps.set(step, s);
    }
    s.hist.recordValue(Math.max(1, Math.round(ms * 1_000)));
    s.answers[answer] = (s.answers[answer] ?? 0) + 1;
  }

  names(): string[] {
    return [...this.steps.keys()];
  }

  figures(step: string): StepFigures {
    const s = this.steps.get(step);
    if (!s) return { count: 0, p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, answers: {} };
    const pct = (p: number) => s.hist.getValueAtPercentile(p) / 1_000;
    return { count: s.hist.totalCount, p50: pct(50), p95: pct(95), p99: pct(99), answers: { ...s.answers } };
  }

  destroy(): void {
    for (const s of this.steps.values()) s.hist.destroy();
  }
}

function problemCode(json: unknown): string | null {
  const code = json && typeof json === 'object' ? (json as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : null;
}

/** One virtual user: its requests are timed into `recorder` until the run's deadline. */
export class Vu {
  private stopped = false;

  constructor(
    /** 0-based. */
    readonly id: number,
    private readonly base: string,
    private readonly agent: Agent,
    private readonly recorder: StepRecorder,
    private readonly deadline: number,
    private readonly timeoutMs: number,
  ) {}

  /** True once the deadline passed or the user stopped itself. */
  get done(): boolean {
    return this.stopped || performance.now() >= this.deadline;
  }

  /** Ends this user's loop after the current iteration (nothing left for it to do). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Sends one request, timed into `step` and ALL_REQUESTS; null (nothing sent) once the run is done.
   * JSON bodies are sent and parsed.
   */
  async send(
    step: string,
    method: 'GET' | 'POST',
    path: string,
    opts: { token: string; body?: unknown },
  ): Promise<VuAnswer | null> {
    if (this.done) return null;
    const headers: Record<string, string> = { authorization: `Bearer ${opts.token}` };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const t0 = performance.now();
    let answer: VuAnswer;
    try {
      const res = await request(`${this.base}${path}`, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        dispatcher: this.agent,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const text = await res.body.text();
      let json: unknown = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      answer = { status: res.statusCode, code: problemCode(json), json };
    } catch {
      answer = { status: 0, code: null, json: null };
    }
    const ms = performance.now() - t0;
    const label =
      answer.status === 0 ? 'no answer' : `${answer.status}${answer.code ? ` ${answer.code}` : ''}`;
    this.recorder.record(step, ms, label);
    this.recorder.record(ALL_REQUESTS, ms, label);
    return answer;
  }

  /** Records a duration that is not one request (a whole flow), in `step` only. */
  time(step: string, ms: number, answer: string): void {
    this.recorder.record(step, ms, answer);
  }
}

export interface VuSpec {
  url: string;
  vus: number;
  seconds: number;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  iteration(vu: Vu): Promise<void>;
}

export interface VuRun {
  /** Wall seconds from the start until the last user ended. */
  seconds: number;
  iterations: number;
  recorder: StepRecorder;
}

/** Runs `spec.vus` users, each looping over `iteration` until the deadline; resolves once all ended. */
export async function runVus(spec: VuSpec): Promise<VuRun> {
  const agent = new Agent({ connections: spec.vus, pipelining: 1, keepAliveTimeout: 30_000 });
  const recorder = new StepRecorder();
  const started = performance.now();
  const deadline = started + spec.seconds * 1_000;
  let iterations = 0;
  const loop = async (vu: Vu) => {
    while (!vu.done) {
      iterations++;
      await spec.iteration(vu);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: spec.vus }, (_, i) =>
        loop(new Vu(i, spec.url, agent, recorder, deadline, spec.timeoutMs ?? 10_000)),
      ),
    );
  } finally {
    await agent.close();
  }
  return { seconds: (performance.now() - started) / 1_000, iterations, recorder };
}
