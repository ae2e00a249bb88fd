/**
 * The data-platform webhook: one HTTP POST per event, JSON body, the event id in `X-Event-Id` (the
 * receiver de-duplicates on it: delivery is at least once). Any 2xx is a delivery; anything else,
 * a timeout or a connection error is a failure the relay retries with exponential backoff.
 */
import { Agent, request } from 'undici';
import type { OutboxEvent } from './events.js';

export class WebhookSender {
  private readonly agent: Agent;

  constructor(
    private readonly url: string,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({ connections: 16, keepAliveTimeout: 10_000, connectTimeout: timeoutMs });
  }

  /** Resolves on a 2xx answer; rejects with a short reason otherwise. */
  async send(e: OutboxEvent): Promise<void> {
    const res = await request(this.url, {
      method: 'POST',
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', 'x-event-id': e.id, 'x-event-topic': e.topic },
      body: JSON.stringify({
        id: e.id,
        topic: e.topic,
        userId: e.userId,
        createdAt: e.createdAt,
        payload: e.payload,
      }),
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
