import { memoryFrameStore, redisFrameStore } from '../../infra/live/frame-store.js';
import { JsonWebhook } from '../../infra/webhook.js';
import { defineModule } from '../../kernel/module.js';
import { alertRoutes } from './alert-routes.js';
import { AlertEngine } from './alerts.js';
import { dashboardPageRoutes, loadDashboardFiles } from './page.js';
import { LiveRepository } from './repository.js';
import { liveRoutes } from './routes.js';
import { Sampler } from './sampler.js';
import { LiveService } from './service.js';

declare module '../../kernel/module.js' {
  interface ModuleServices {
    live: LiveService;
  }
}

/**
 * The live operations view: every process's 1 s frames merged into one snapshot a second, streamed
 * to the dashboard, kept for an hour, and read by the alert rules (alerts.ts), whose alerts are
 * stored, listed and sent to ALERT_WEBHOOK_URL. Its routes: the API under /api/v1, and the page
 * an operator watches at /dashboard.
 */
export default defineModule({
  name: 'live',
  infra: ['postgres', 'redis', 'keys', 'metrics', 'log', 'commits', 'locks', 'config'],
  dependsOn: [],
  prefix: '',
  create({ infra }) {
    const redis = infra.redis();
    const store = redis ? redisFrameStore(redis, infra.keys.liveFrames()) : memoryFrameStore();
    const sampler = new Sampler(infra.metrics, infra.postgres(), () => infra.commits.depth());
    const live = new LiveService(store, sampler, infra.metrics, infra.log, { settleSeconds: redis ? 1 : 0 });
    const { config } = infra;
    const repo = new LiveRepository(infra.postgres());
    const webhook = config.alertWebhookUrl
      ? new JsonWebhook(config.alertWebhookUrl, config.outboxWebhookTimeoutMs)
      : null;
    const alerts = new AlertEngine(repo, infra.locks.lease('live-alerts', 5_000), webhook, infra.log, {
      windowScale: config.alertWindowScale,
      minRps: config.alertMinRps,
      retryBaseMs: config.outboxRetryBaseMs,
      retryMaxMs: config.outboxRetryMaxMs,
    });
    live.listen(alerts);
    const page = loadDashboardFiles();
    return {
      service: live,
      routes: async (app) => {
        await app.register(liveRoutes(live), { prefix: '/api/v1' });
        await app.register(alertRoutes(alerts, repo), { prefix: '/api/v1' });
        await app.register(dashboardPageRoutes(page), { prefix: '/dashboard' });
      },
      start: () => live.start(),
      close: async () => {
        await live.close();
        await alerts.close();
      },
      health: () => live.health(),
    };
  },
});
