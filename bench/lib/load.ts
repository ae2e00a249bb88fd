/**
 * Load with autocannon, driven in-process. The caller builds every request (`request(n)` for the
 * n-th, 0-based) and may hear every answer (`answered(n, status, body)`); requests whose answer never
 * arrived before the stop (autocannon drops those) are listed in `unanswered`. Latencies go to an
 * HDR histogram (µs resolution), so memory does not grow with the number of requests.
 */
import autocannon from 'autocannon';
import { microsecondHistogram } from '../../src/drill/metrics.js';

export interface LoadRequest {
  method?: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadSpec {
  url: string;
  connections: number;
  /** Seconds of load; or `amount` requests, whichever is given (amount wins). */
  seconds?: number;
  amount?: number;
  /** Seconds per request before autocannon counts a timeout; default 10. */
  timeoutSec?: number;
  request(n: number): LoadRequest;
  /** `body` is the answer's body as text (for callers that need an id or a problem code from it). */
  answered?(n: number, status: number, body: string): void;
}

export interface LoadResult {
  responses: number;
  /** Wall seconds of load: autocannon's duration, or (with `amount`) until the last answer. */
  seconds: number;
  /** Responses per second. */
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  /** Answers by HTTP status. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** `n` of every request built but never answered. */
  unanswered: number[];
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const hist = microsecondHistogram();
  const statuses: Record<string, number> = {};
  const pending = new Set<number>();
  let seq = 0;
  const started = performance.now();
  let lastAnswerAt = started;
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.seconds ?? 10 }),
    timeout: spec.timeoutSec ?? 10,
    requests: [
      {
        method: 'POST',
        setupRequest(req, context) {
          const n = seq++;
          context.seq = n;
          pending.add(n);
          const r = spec.request(n);
          return {
            ...req,
            method: r.method ?? 'POST',
            path: r.path,
            headers: { ...req.headers, ...r.headers },
            body: r.body,
          };
        },
        onResponse(status, body, context) {
          const n = context.seq;
          if (typeof n !== 'number') return;
          pending.delete(n);
          spec.answered?.(n, status, body);
        },
      },
    ],
  });
  instance.on('response', (_client, status, _bytes, ms) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    lastAnswerAt = performance.now();
    hist.recordValue(Math.max(1, Math.round(ms * 1_000)));
  });
  const result = await instance;
  const seconds = spec.amount ? (lastAnswerAt - started) / 1_000 : result.duration;
  const pct = (p: number) => (hist.totalCount ? hist.getValueAtPercentile(p) / 1_000 : Number.NaN);
  const responses = hist.totalCount;
  const out: LoadResult = {
    responses,
    seconds,
    rps: seconds > 0 ? responses / seconds : 0,
    p50: pct(50),
    p95: pct(95),
    p99: pct(99),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    unanswered: [...pending],
  };
  hist.destroy();
  return out;
}
