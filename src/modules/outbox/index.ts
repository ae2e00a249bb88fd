import { defineModule } from '../../kernel/module.js';
import { OutboxRelay } from './relay.js';
import { OutboxRepository } from './repository.js';
import { WebhookSender } from './webhook.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    outbox: OutboxRelay;
  }
}

/** Group-commit items queued or in flight at which the hot path counts as under pressure. */
const HOT_PATH_BUSY_DEPTH = 16;
/** Delivered events are kept 7 days; the janitor purges older ones once an hour. */
const JANITOR_MS = 3_600_000;

/**
 * The transactional outbox's relay: every event written with an order or an issued coupon is
 * delivered at least once to the local consumers (notifications, best sellers) and to the
 * data-platform webhook (DATA_PLATFORM_URL). No routes of its own.
 */
export default defineModule({
  name: 'outbox',
  infra: ['postgres', 'commits', 'metrics', 'log', 'config', 'tracer'],
  dependsOn: ['notifications', 'ranking'],
  create({ infra, modules: { notifications, ranking } }) {
    const { config } = infra;
    const pool = infra.postgres();
    const repo = new OutboxRepository(pool);
    const webhook = config.dataPlatformUrl
      ? new WebhookSender(config.dataPlatformUrl, config.outboxWebhookTimeoutMs, infra.tracer)
      : null;
    const relay = new OutboxRelay(pool, repo, notifications, ranking, webhook, infra.metrics, infra.log, {
      pollMs: config.outboxPollMs,
      retryBaseMs: config.outboxRetryBaseMs,
      retryMaxMs: config.outboxRetryMaxMs,
      // A spike's commits queue up: deliver events after it (at most OUTBOX_MAX_YIELD_MS later).
      hotPathBusy: () => infra.commits.depth() >= HOT_PATH_BUSY_DEPTH,
      maxYieldMs: config.outboxMaxYieldMs,
    });
    let janitor: NodeJS.Timeout | null = null;
    return {
      service: relay,
      health: () => relay.health(),
      start() {
        relay.start();
        janitor = setInterval(() => {
          repo.purgeDelivered(7).catch((err) => infra.log.warn({ err }, 'outbox janitor pass failed'));
        }, JANITOR_MS);
        janitor.unref();
      },
      async close() {
        if (janitor) clearInterval(janitor);
        await relay.stop();
        await webhook?.close();
      },
    };
  },
});
