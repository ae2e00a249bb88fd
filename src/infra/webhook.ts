/**
 * A JSON webhook: one HTTP POST per call, any 2xx is a delivery; anything else, a timeout or a
 * connection error rejects with a short reason, for the caller to retry with backoff (backoff.ts).
 * Used by the outbox relay (the data-platform webhook) and the live view's alerts.
 */
import { Agent, request } from 'undici';

export class JsonWebhook {
  private readonly agent: Agent;

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({ connections: 16, keepAliveTimeout: 10_000, connectTimeout: timeoutMs });
  }

  /** Resolves on a 2xx answer; rejects with a short reason otherwise. */
  async post(body: unknown, headers: Record<string, string> = {}): Promise<void> {
    const res = await request(this.url, {
      method: 'POST',
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`webhook answered ${res.statusCode}`);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
