/**
 * The drill's own client for setup and audit (admin API, reading users' state). Its requests are
 * NOT recorded in the run's metrics: they are the rehearsal's scaffolding, not the crowd.
 * Transient answers (429, 503, connection errors) are retried a few times with backoff, because
 * an audit must not fail for a momentary refusal; a wrong answer is never retried away. A 429
 * with Retry-After (a rate limit's window) is waited out as asked, at most 60 s at a time and
 * RATE_LIMIT_WAIT_MS per call in all, without using up those retries.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { AdminTokenRefusedError, DrillRunError } from './errors.js';

export interface ApiAnswer {
  status: number;
  json: unknown;
  code: string | null;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Readonly<Record<string, string>>;
}

const RETRIES = 4;
/** Longest total wait for 429 Retry-After in one call. */
const RATE_LIMIT_WAIT_MS = 180_000;

function retryAfterMs(header: string | string[] | undefined): number | null {
  const s = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(s) && s > 0 ? Math.min(60, s) * 1_000 : null;
}

export class ApiClient {
  private readonly agent: Agent;
  readonly base: string;
  /** 429 answers waited out so far (the target rate-limits this client). */
  rateLimited = 0;

  constructor(baseUrl: string, connections = 32, timeoutMs = 60_000) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.agent = new Agent({ connections, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  async call(method: 'GET' | 'POST' | 'DELETE', path: string, opts: CallOptions = {}): Promise<ApiAnswer> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    let lastError = '';
    let waitedMs = 0;
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      if (attempt) await sleepMs(100 * 2 ** attempt);
      try {
        const res = await request(`${this.base}${path}`, { method, headers, body, dispatcher: this.agent });
        const text = await res.body.text();
        let json: unknown = null;
        try {
          json = text ? JSON.parse(text) : null;
        } catch {
          json = null;
        }
        const code =
          json && typeof json === 'object' && typeof (json as { code?: unknown }).code === 'string'
            ? (json as { code: string }).code
            : null;
        const wait = res.statusCode === 429 ? retryAfterMs(res.headers['retry-after']) : null;
        if (wait !== null && waitedMs + wait <= RATE_LIMIT_WAIT_MS) {
          this.rateLimited++;
          waitedMs += wait;
          lastError = `429 ${code ?? ''}`;
          await sleepMs(wait);
          attempt--;
          continue;
        }
        if ((res.statusCode === 429 || res.statusCode === 503) && attempt < RETRIES) {
          lastError = `${res.statusCode} ${code ?? ''}`;
          continue;
        }
        return { status: res.statusCode, json, code };
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
    }
    throw new DrillRunError(
      `${method} ${this.base}${path} failed after ${RETRIES + 1} attempts: ${lastError}`,
    );
  }

  /**
   * Calls and insists on `status`; anything else stops the run with the server's answer. A 401 or
   * 403 from an admin endpoint is an AdminTokenRefusedError (the token is wrong, not the data).
   */
  async must(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    status: number,
    opts: CallOptions = {},
  ): Promise<unknown> {
    const res = await this.call(method, path, opts);
    if ((res.status === 401 || res.status === 403) && path.startsWith('/api/v1/admin/')) {
      throw new AdminTokenRefusedError(
        `${method} ${path} answered ${res.status}${res.code ? ` ${res.code}` : ''}`,
      );
    }
    if (res.status !== status) {
      throw new DrillRunError(
        `${method} ${path} answered ${res.status} (expected ${status}): ${JSON.stringify(res.json)?.slice(0, 300)}`,
      );
    }
    return res.json;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
