/**
 * The VUs' HTTP client (undici, keep-alive, one connection per VU at most). Every request is
 * recorded as k6 records it: http_reqs, http_req_duration (ms), http_req_failed, tagged with
 * name, method, status and expected_response.
 *
 * What counts as failed is decided per request by `expect` (k6's responseCallback): a status
 * listed there — optionally only with given problem+json codes, e.g. 409 only as ALREADY_ISSUED —
 * is an expected answer, everything else (other statuses, timeouts, network errors) is a failure.
 * Business answers of a drop (409 ALREADY_ISSUED, 410 SOLD_OUT) are therefore not failures.
 *
 * Timing: the duration runs from `intendedStartMs` when given (the open model passes the
 * iteration's scheduled start, so a late start caused by the generator counts as latency) and
 * from the moment the request is handed to undici otherwise, to the end of the body.
 * Requests aborted by the drill itself (graceful stop) are not recorded.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request, errors as undiciErrors } from 'undici';
import type { BuiltinMetrics } from './metrics.js';
import type { Timeline } from './timeline.js';

/** status → true (any answer with that status is expected) or the problem codes that are. */
export type Expected = Readonly<Record<number, true | readonly string[]>>;

export interface RequestSpec {
  method: 'GET' | 'POST';
  /** Path and query, appended to the target's base URL. */
  path: string;
  /** The `name` tag, grouping URLs with ids into one series (k6's tags.name). */
  name: string;
  token?: string;
  body?: unknown;
  headers?: Readonly<Record<string, string>>;
  expect: Expected;
}

export interface Answer {
  /** HTTP status; 0 when no response arrived (timeout, connection error). */
  status: number;
  /** `code` of a problem+json body, else null. */
  code: string | null;
  /** Parsed JSON body (null when empty or not JSON). */
  json: unknown;
  durationMs: number;
  /** Was this an expected answer (not counted in http_req_failed)? */
  expected: boolean;
  /** Why there is no response, when status is 0. */
  error: string | null;
}

export class RequestAborted extends Error {
  override name = 'RequestAborted';
}

export interface LoadClientOptions {
  baseUrl: string;
  connections: number;
  timeoutMs: number;
}

export function isExpected(expect: Expected, status: number, code: string | null): boolean {
  const rule = expect[status];
  if (rule === undefined) return false;
  if (rule === true) return true;
  return code !== null && rule.includes(code);
}

function problemCode(json: unknown): string | null {
  if (json && typeof json === 'object' && 'code' in json) {
    const code = (json as { code: unknown }).code;
    return typeof code === 'string' ? code : null;
  }
  return null;
}

export class LoadClient {
  private readonly agent: Agent;
  private readonly base: string;

  constructor(
    private readonly options: LoadClientOptions,
    private readonly metrics: BuiltinMetrics,
    private readonly timeline: Timeline,
  ) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.agent = new Agent({
      connections: Math.max(1, options.connections),
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: { timeout: Math.min(options.timeoutMs, 10_000) },
    });
  }

  /** Sends one request and records it; throws RequestAborted only when `signal` aborted it. */
  async request(spec: RequestSpec, signal: AbortSignal, intendedStartMs?: number): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    if (spec.token) headers.authorization = `Bearer ${spec.token}`;
    let body: string | undefined;
    if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      headers['content-type'] = 'application/json';
    }
    const sentAt = performance.now();
    const from = intendedStartMs !== undefined && intendedStartMs < sentAt ? intendedStartMs : sentAt;
    let status = 0;
    let json: unknown = null;
    let error: string | null = null;
    try {
      const res = await request(`${this.base}${spec.path}`, {
        method: spec.method,
        headers,
        body,
        dispatcher: this.agent,
        signal,
      });
      status = res.statusCode;
      const text = await res.body.text();
      if (text) {
        try {
          json = JSON.parse(text);
        } catch {
          json = null;
        }
      }
    } catch (err) {
      if (signal.aborted) throw new RequestAborted('aborted by the drill');
      error =
        err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError
          ? `timeout after ${this.options.timeoutMs} ms`
          : err instanceof Error
            ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`
            : String(err);
      status = 0;
    }
    const durationMs = performance.now() - from;
    const code = problemCode(json);
    const expected = status !== 0 && isExpected(spec.expect, status, code);
    const tags = {
      name: spec.name,
      method: spec.method,
      status: String(status),
      expected_response: expected ? 'true' : 'false',
    };
    this.metrics.httpReqs.add(1, tags);
    this.metrics.httpReqDuration.add(durationMs, tags);
    this.metrics.httpReqFailed.add(!expected, tags);
    this.timeline.record(status, durationMs, !expected);
    return { status, code, json, durationMs, expected, error };
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  /** Drops in-flight requests (after graceful stop). */
  destroy(): Promise<void> {
    return this.agent.destroy();
  }
}
