/**
 * The drill's own client for setup and audit (admin API, reading users' state). Its requests are
 * NOT recorded in the run's metrics: they are the rehearsal's scaffolding, not the crowd.
 * Transient answers (429, 503, connection errors) are retried a few times with backoff, because
 * an audit must not fail for a momentary refusal; a wrong answer is never retried away.
 */
import { setTimeout as sleepMs } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { DrillRunError } from './errors.js';

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

export class ApiClient {
  private readonly agent: Agent;
  readonly base: string;

  constructor(baseUrl: string, connections = 32, timeoutMs = 60_000) {
    this.base = baseUrl.replace(/\/+$/, '');
    this.agent = new Agent({ connections, pipelining: 1, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  }

  async call(method: 'GET' | 'POST', path: string, opts: CallOptions = {}): Promise<ApiAnswer> {
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    let lastError = '';
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

  /** Calls and insists on `status`; anything else stops the run with the server's answer. */
  async must(method: 'GET' | 'POST', path: string, status: number, opts: CallOptions = {}): Promise<unknown> {
    const res = await this.call(method, path, opts);
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
