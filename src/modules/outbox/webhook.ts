/**
 * The data-platform webhook: one HTTP POST per event, JSON body, the event id in `X-Event-Id` (the
 * receiver de-duplicates on it: delivery is at least once). Any 2xx is a delivery; anything else,
 * a timeout or a connection error is a failure the relay retries with exponential backoff.
 * An event written under a trace is sent with `traceparent`: with tracing on, that of a delivery
 * span continuing the request's trace; with tracing off, the stored one as it is.
 */
import { noopTracer, type Tracer } from '../../infra/tracing.js';
import { JsonWebhook } from '../../infra/webhook.js';
import type { OutboxEvent } from './events.js';

export class WebhookSender {
  private readonly hook: JsonWebhook;

  constructor(
    url: string,
    timeoutMs: number,
    private readonly tracer: Tracer = noopTracer,
  ) {
    this.hook = new JsonWebhook(url, timeoutMs);
  }

  /** Resolves on a 2xx answer; rejects with a short reason otherwise. */
  send(e: OutboxEvent): Promise<void> {
    return this.tracer.continued(
      `outbox deliver ${e.topic}`,
      e.traceparent,
      (trace) =>
        this.hook.post(
          { id: e.id, topic: e.topic, userId: e.userId, createdAt: e.createdAt, payload: e.payload },
          { ...trace, 'x-event-id': e.id, 'x-event-topic': e.topic },
        ),
      this.tracer.enabled ? { 'stampede.event.id': e.id, 'stampede.event.topic': e.topic } : undefined,
    );
  }

  close(): Promise<void> {
    return this.hook.close();
  }
}
