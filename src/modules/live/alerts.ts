/**
 * The alert engine: reads every snapshot of the live view and keeps the alerts table true to the
 * rules. One process evaluates (the holder of the `live-alerts` lease; in embedded mode, the one
 * process): a rule whose evaluator says `firing` opens an alert (at most one firing per rule, kept
 * current while it fires), `clear` resolves it, `pending` leaves it as it is — so a new leader,
 * whose evaluators start afresh, resolves nothing that still breaches. The leader also tells the
 * alert webhook (ALERT_WEBHOOK_URL) of each firing and each resolution once, retrying with backoff
 * while it is down (the send state is in the alerts rows, so a failover resumes it). Every process
 * reads the firing alerts once a second for the snapshots it streams.
 */
import type { FastifyBaseLogger } from 'fastify';
import { backoffMs } from '../../infra/backoff.js';
import type { Lease } from '../../infra/locks.js';
import type { JsonWebhook } from '../../infra/webhook.js';
import type { LiveRepository } from './repository.js';
import { DEFAULT_RULES, type Evaluator, type EvaluatorOptions, evaluator, type Rule } from './rules.js';
import type { SnapshotListener } from './service.js';
import type { AlertView, Snapshot } from './snapshot.js';

/** How often the leader re-reads the stored rules (a PUT may have reached another process), ms. */
const RULES_REFRESH_MS = 5_000;
/** Webhook sends per second at most. */
const SENDS_PER_TICK = 20;

export interface AlertOptions extends EvaluatorOptions {
  retryBaseMs: number;
  retryMaxMs: number;
}

export class AlertEngine implements SnapshotListener {
  private evaluators: Evaluator[] = [];
  private rulesJson = '';
  private rulesAt = 0;
  private leading = false;
  private current: AlertView[] = [];

  constructor(
    private readonly repo: LiveRepository,
    private readonly lease: Lease,
    private readonly webhook: JsonWebhook | null,
    private readonly log: FastifyBaseLogger,
    private readonly opts: AlertOptions,
  ) {}

  /** The rules in force: the stored ones, or the built-in defaults when none were stored. */
  async rules(): Promise<Rule[]> {
    return (await this.repo.rules()) ?? DEFAULT_RULES;
  }

  async setRules(rules: Rule[]): Promise<void> {
    await this.repo.replaceRules(rules);
    this.rulesAt = 0; // re-read at the next second
  }

  firing(): AlertView[] {
    return this.current;
  }

  since(fromMs: number): Promise<AlertView[]> {
    return this.repo.firingSince(new Date(fromMs));
  }

  async observe(s: Snapshot): Promise<void> {
    this.leading = await this.lease.hold().catch(() => false);
    if (this.leading) {
      await this.loadRules();
      // What fired as of the last second's read, not read again: a view a second old is harmless
      // (fire is ON CONFLICT DO NOTHING, update and resolve touch only a FIRING row).
      const open = new Set(this.current.map((a) => a.rule));
      for (const e of this.evaluators) {
        const v = e.observe(s);
        if (v.state === 'firing') {
          if (open.has(e.rule.id)) await this.repo.update(e.rule.id, v);
          else {
            await this.repo.fire(e.rule, v);
            this.log.warn(
              { rule: e.rule.id, severity: e.rule.severity, value: v.value },
              `alert firing: ${v.detail}`,
            );
          }
        } else if (v.state === 'clear' && open.has(e.rule.id)) {
          await this.repo.resolve(e.rule.id);
          this.log.info({ rule: e.rule.id }, 'alert resolved');
        }
      }
      await this.send();
    }
    this.current = await this.repo.firing();
  }

  private async loadRules(): Promise<void> {
    if (Date.now() - this.rulesAt < RULES_REFRESH_MS) return;
    this.rulesAt = Date.now();
    const rules = await this.rules();
    const json = JSON.stringify(rules);
    if (json === this.rulesJson) return;
    this.rulesJson = json;
    this.evaluators = rules.map((r) => evaluator(r, this.opts));
  }

  /** Tells the webhook what it has not been told yet (each firing and resolution once). */
  private async send(): Promise<void> {
    if (!this.webhook) return;
    for (const p of await this.repo.toSend(SENDS_PER_TICK)) {
      try {
        await this.webhook.post(
          { type: p.send, alert: p.alert },
          { 'x-alert-id': p.alert.id, 'x-alert-event': p.send },
        );
        await this.repo.sent(p.alert.id, p.send);
      } catch (err) {
        await this.repo.sendFailed(
          p.alert.id,
          backoffMs(p.attempts + 1, this.opts.retryBaseMs, this.opts.retryMaxMs),
        );
        this.log.debug({ err, alert: p.alert.id }, 'alert webhook failed; will retry');
      }
    }
  }

  async close(): Promise<void> {
    if (this.leading) await this.lease.release().catch(() => {});
    await this.webhook?.close();
  }

  get isLeader(): boolean {
    return this.leading;
  }
}
