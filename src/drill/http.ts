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
 *
 * Event streams (`stream`) go over connections of their own (a stream holds its connection for
 * minutes, and must not starve the VUs' requests); the opening is recorded like a request, timed to
 * the response headers, and the stream's events are handed to the caller as they arrive.
 */
import { performance } from 'node:perf_hooks';
import { Agent, request, errors as undiciErrors } from 'undici';
import type { BuiltinMetrics } from './metrics.js';
import { type SseEvent, SseParser } from './sse.js';
import type { Timeline } from './timeline.js';

/** status → true (any answer with that status is expected) or the problem codes that are. */
export type Expected = Readonly<Record<number, true | readonly string[]>>;

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
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

/** An event stream silent this long is dead (servers send at least a keep-alive comment every 15 s). */
const STREAM_SILENCE_MS = 45_000;

/** How an event stream ended. */
export interface StreamEnd {
  /** The answer's status; 0 when none arrived. */
  status: number;
  /** `done`: the handler asked to stop · `closed`: the server ended it · `error`: the connection failed. */
  by: 'done' | 'closed' | 'error';
  error: string | null;
}

export class LoadClient {
  private readonly agent: Agent;
  private readonly streams: Agent;
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
    // Any number of streams, over connections of their own.
    this.streams = new Agent({
      headersTimeout: options.timeoutMs,
      bodyTimeout: STREAM_SILENCE_MS,
      connect: { timeout: Math.min(options.timeoutMs, 10_000) },
    });
  }

  /**
   * Opens `GET path` as an event stream and hands each event to `onEvent` until it returns true
   * (done), the server ends the stream, or the connection fails. The opening is recorded as a
   * request named `spec.name`; throws RequestAborted only when `signal` aborted it.
   */
  async stream(
    spec: Omit<RequestSpec, 'method' | 'body'>,
    signal: AbortSignal,
    onEvent: (e: SseEvent) => boolean,
  ): Promise<StreamEnd> {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...spec.headers };
    if (spec.token) headers.authorization = `Bearer ${spec.token}`;
    const sentAt = performance.now();
    const stop = new AbortController();
    const abort = () => stop.abort();
    signal.addEventListener('abort', abort, { once: true });
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(`${this.base}${spec.path}`, {
        method: 'GET',
        headers,
        dispatcher: this.streams,
        signal: stop.signal,
      });
    } catch (err) {
      signal.removeEventListener('abort', abort);
      if (signal.aborted) throw new RequestAborted('aborted by the drill');
      this.record(spec, 0, null, performance.now() - sentAt);
      return { status: 0, by: 'error', error: this.describe(err) };
    }
    const status = res.statusCode;
    if (status !== 200) {
      let json: unknown = null;
      try {
        json = JSON.parse(await res.body.text());
      } catch {
        json = null;
      }
      signal.removeEventListener('abort', abort);
      this.record(spec, status, problemCode(json), performance.now() - sentAt);
      return { status, by: 'closed', error: null };
    }
    this.record(spec, status, null, performance.now() - sentAt);
    const parser = new SseParser();
    try {
      res.body.setEncoding('utf8');
      for await (const chunk of res.body) {
        for (const e of parser.push(chunk as string)) {
          if (onEvent(e)) {
            stop.abort();
            return { status, by: 'done', error: null };
          }
        }
      }
      return { status, by: 'closed', error: null };
    } catch (err) {
      if (signal.aborted) throw new RequestAborted('aborted by the drill');
      return { status, by: 'error', error: this.describe(err, STREAM_SILENCE_MS) };
    } finally {
      signal.removeEventListener('abort', abort);
      if (!stop.signal.aborted) res.body.destroy();
    }
  }

  /** Why no answer arrived, in one line: a timeout, or the error's code and message. */
  private describe(err: unknown, timeoutMs = this.options.timeoutMs): string {
    if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError)
      return `timeout after ${timeoutMs} ms`;
    return err instanceof Error
      ? `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`
      : String(err);
  }

  /** Records one answer (or its absence, status 0) in the run's metrics; was it expected? */
  private record(
    spec: Pick<RequestSpec, 'name' | 'expect'> & { method?: RequestSpec['method'] },
    status: number,
    code: string | null,
    durationMs: number,
  ): boolean {
    const expected = status !== 0 && isExpected(spec.expect, status, code);
    const tags = {
      name: spec.name,
      method: spec.method ?? 'GET',
      status: String(status),
      expected_response: expected ? 'true' : 'false',
    };
    this.metrics.httpReqs.add(1, tags);
    this.metrics.httpReqDuration.add(durationMs, tags);
    this.metrics.httpReqFailed.add(!expected, tags);
    this.timeline.record(status, durationMs, !expected);
    return expected;
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
      error = this.describe(err);
      status = 0;
    }
    const durationMs = performance.now() - from;
    const code = problemCode(json);
    const expected = this.record(spec, status, code, durationMs);
    return { status, code, json, durationMs, expected, error };
  }

  async close(): Promise<void> {
    await Promise.all([this.agent.close(), this.streams.destroy()]);
  }

  /** Drops in-flight requests (after graceful stop). */
  async destroy(): Promise<void> {
    await Promise.all([this.agent.destroy(), this.streams.destroy()]);
  }
}
