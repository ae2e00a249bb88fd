/**
 * The outbox relay: delivers every outbox event AT LEAST ONCE to
 *  (a) the local consumers — the notifications module (deduplicated by event id) and, for
 *      order.paid, the best-seller store (deduplicated by order id) — and
 *  (b) the data-platform webhook, with exponential backoff per event (base · 2^attempts, capped,
 *      ±20 % jitter); a failing webhook delays nothing else and never touches the order path.
 * Two independent loops, one per destination. Each pass claims a chunk with FOR UPDATE SKIP LOCKED
 * inside a transaction that stays open while the chunk is delivered, so relays in other processes
 * skip those events, and a killed process releases them with its connection.
 */
import type { FastifyBaseLogger } from 'fastify';
import { backoffMs } from '../../infra/backoff.js';
import type { Metrics } from '../../infra/metrics.js';
import { type Pool, withTransaction } from '../../infra/postgres/pool.js';
import type { NotificationsService } from '../notifications/service.js';
import type { RankingService } from '../ranking/service.js';
import type { OrderPaidPayload } from './events.js';
import type { ClaimedEvent, OutboxRepository } from './repository.js';
import type { WebhookSender } from './webhook.js';

export interface RelayOptions {
  pollMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  localBatch?: number;
  webhookBatch?: number;
  webhookParallel?: number;
  /**
   * True while the hot path is under pressure (group commits queueing). The relay then yields its
   * database work to the requests, for at most `maxYieldMs` in a row, so delivery lag stays bounded.
   */
  hotPathBusy?: () => boolean;
  maxYieldMs?: number;
}

export class OutboxRelay {
  private stopped = true;
  private loops: Promise<void>[] = [];
  private wake: (() => void)[] = [];
  private lastLag = 0;
  /** Age of the oldest undelivered event per destination at the last measurement, in seconds. */
  private lag = { local: 0, webhook: 0 };

  constructor(
    private readonly pool: Pool,
    private readonly repo: OutboxRepository,
    private readonly notifications: NotificationsService,
    private readonly ranking: RankingService,
    private readonly webhook: WebhookSender | null,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
    private readonly opts: RelayOptions,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loops = [this.loop('local', () => this.localPass()), this.loop('webhook', () => this.webhookPass())];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.wake.splice(0)) w();
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Runs `pass` until stopped; sleeps pollMs after a pass that found less than a full chunk. */
  private async loop(name: 'local' | 'webhook', pass: () => Promise<boolean>): Promise<void> {
    // Yield while the hot path is busy, but for at most maxYieldMs; then catch up completely (pass
    // until a chunk comes back short) before yielding again, so delivery lag stays bounded.
    let yieldingSince: number | null = null;
    while (!this.stopped) {
      let more = false;
      if (this.opts.hotPathBusy?.()) {
        yieldingSince ??= Date.now();
        if (Date.now() - yieldingSince < (this.opts.maxYieldMs ?? 5_000)) {
          this.metrics.outboxYields.inc({ destination: name });
          await this.sleep();
          continue;
        }
      } else {
        yieldingSince = null;
      }
      try {
        more = await pass();
        await this.updateLag();
      } catch (err) {
        this.metrics.outboxFailures.inc({ destination: name });
        this.log.warn({ err, destination: name }, 'outbox relay pass failed; retrying');
      }
      if (!more) {
        yieldingSince = null;
        if (!this.stopped) await this.sleep();
      }
    }
  }

  private sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        resolve();
      };
      const t = setTimeout(() => {
        this.wake.splice(this.wake.indexOf(wake), 1);
        resolve();
      }, this.opts.pollMs);
      this.wake.push(wake);
    });
  }

  /** One chunk to the local consumers. True when the chunk was full (more may be waiting). */
  async localPass(): Promise<boolean> {
    const limit = this.opts.localBatch ?? 500;
    const n = await withTransaction(this.pool, async (c) => {
      const events = await this.repo.claimLocal(c, limit);
      if (events.length === 0) return 0;
      await this.notifications.record(events);
      const paid = events
        .filter((e) => e.topic === 'order.paid')
        .map((e) => e.payload as unknown as OrderPaidPayload);
      if (paid.length) await this.ranking.apply(paid);
      await this.repo.markLocal(
        c,
        events.map((e) => e.id),
        this.webhook === null,
      );
      return events.length;
    });
    if (n) this.metrics.outboxDeliveries.inc({ destination: 'local' }, n);
    return n === limit;
  }

  /** One chunk to the webhook. True when the chunk was full. */
  async webhookPass(): Promise<boolean> {
    const limit = this.opts.webhookBatch ?? 100;
    if (!this.webhook) return (await this.repo.skipWebhook(limit * 10)) === limit * 10;
    const webhook = this.webhook;
    const n = await withTransaction(this.pool, async (c) => {
      const events = await this.repo.claimWebhook(c, limit);
      const delivered: string[] = [];
      const failed: { id: string; delayMs: number; error: string }[] = [];
      await mapLimit(events, this.opts.webhookParallel ?? 16, async (e: ClaimedEvent) => {
        try {
          await webhook.send(e);
          delivered.push(e.id);
        } catch (err) {
          const error = err instanceof Error ? err.message : String(err);
          failed.push({
            id: e.id,
            delayMs: backoffMs(e.attempts + 1, this.opts.retryBaseMs, this.opts.retryMaxMs),
            error,
          });
        }
      });
      await this.repo.markWebhookDelivered(c, delivered);
      await this.repo.markWebhookFailed(c, failed);
      if (delivered.length) this.metrics.outboxDeliveries.inc({ destination: 'webhook' }, delivered.length);
      if (failed.length) {
        this.metrics.outboxFailures.inc({ destination: 'webhook' }, failed.length);
        this.log.debug(
          { failed: failed.length, error: failed[0].error },
          'webhook deliveries failed; will retry',
        );
      }
      return events.length;
    });
    return n === limit;
  }

  /** Degraded when local delivery (notifications, best sellers) lags by more than a minute. */
  health(): { status: 'up' | 'degraded'; detail: string } {
    const { local, webhook } = this.lag;
    return {
      status: local > 60 ? 'degraded' : 'up',
      detail: `relay ${this.stopped ? 'stopped' : 'running'}; oldest undelivered event: local ${Math.round(local)} s, webhook ${Math.round(webhook)} s`,
    };
  }

  private async updateLag(): Promise<void> {
    if (Date.now() - this.lastLag < 1_000) return;
    this.lastLag = Date.now();
    const lag = await this.repo.lag();
    this.lag = lag;
    this.metrics.outboxLag.set({ destination: 'local' }, lag.local);
    this.metrics.outboxLag.set({ destination: 'webhook' }, lag.webhook);
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
