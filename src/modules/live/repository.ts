/** The live view's SQL: alert rules as stored, and the alerts that fired (migration 008). */
import type { Pool } from '../../infra/postgres/pool.js';
import type { Rule, Severity, Verdict } from './rules.js';
import type { AlertView } from './snapshot.js';

interface AlertRow {
  id: string;
  rule: string;
  severity: Severity;
  state: 'FIRING' | 'RESOLVED';
  started_at: Date;
  resolved_at: Date | null;
  value: number;
  threshold: number;
  detail: string;
}

const COLUMNS = 'id::text, rule, severity, state, started_at, resolved_at, value, threshold, detail';

export function alertView(r: AlertRow): AlertView {
  return {
    id: r.id,
    rule: r.rule,
    severity: r.severity,
    state: r.state,
    startedAt: r.started_at.toISOString(),
    ...(r.resolved_at ? { resolvedAt: r.resolved_at.toISOString() } : {}),
    value: r.value,
    threshold: r.threshold,
    detail: r.detail,
  };
}

export interface PendingSend {
  alert: AlertView;
  /** What the webhook has not been told yet. */
  send: 'alert.firing' | 'alert.resolved';
  attempts: number;
}

export class LiveRepository {
  constructor(private readonly pool: Pool) {}

  /** The stored rules in order, or null when none were ever stored (the defaults apply). */
  async rules(): Promise<Rule[] | null> {
    const { rows } = await this.pool.query<{ rule: Rule }>('SELECT rule FROM alert_rules ORDER BY position');
    return rows.length ? rows.map((r) => r.rule) : null;
  }

  /** Replaces every rule; alerts of rules that are gone are resolved. One transaction. */
  async replaceRules(rules: Rule[]): Promise<void> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('DELETE FROM alert_rules');
      await c.query(
        `INSERT INTO alert_rules (id, position, rule)
         SELECT r->>'id', ord, r FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(r, ord)`,
        [JSON.stringify(rules)],
      );
      await c.query(
        `UPDATE alerts SET state = 'RESOLVED', resolved_at = now(), detail = detail || ' (rule removed)'
         WHERE state = 'FIRING' AND NOT (rule = ANY($1::text[]))`,
        [rules.map((r) => r.id)],
      );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async firing(): Promise<AlertView[]> {
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${COLUMNS} FROM alerts WHERE state = 'FIRING' ORDER BY id`,
    );
    return rows.map(alertView);
  }

  /** Alerts firing at some moment since `from`, oldest first (at most 1,000). */
  async firingSince(from: Date): Promise<AlertView[]> {
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${COLUMNS} FROM alerts WHERE state = 'FIRING' OR resolved_at > $1 ORDER BY id LIMIT 1000`,
      [from],
    );
    return rows.map(alertView);
  }

  /** Newest first. */
  async list(state: 'FIRING' | 'RESOLVED' | null, limit: number): Promise<AlertView[]> {
    const { rows } = await this.pool.query<AlertRow>(
      `SELECT ${COLUMNS} FROM alerts WHERE ($1::text IS NULL OR state = $1) ORDER BY id DESC LIMIT $2`,
      [state, limit],
    );
    return rows.map(alertView);
  }

  /** Opens an alert for the rule unless one is firing already. */
  async fire(rule: Rule, v: Verdict): Promise<void> {
    await this.pool.query(
      `INSERT INTO alerts (rule, severity, state, value, threshold, detail)
       VALUES ($1, $2, 'FIRING', $3, $4, $5) ON CONFLICT (rule) WHERE state = 'FIRING' DO NOTHING`,
      [rule.id, rule.severity, v.value, v.threshold, v.detail],
    );
  }

  /** Keeps a firing alert's value and detail current. */
  async update(ruleId: string, v: Verdict): Promise<void> {
    await this.pool.query(`UPDATE alerts SET value = $2, detail = $3 WHERE rule = $1 AND state = 'FIRING'`, [
      ruleId,
      v.value,
      v.detail,
    ]);
  }

  async resolve(ruleId: string): Promise<void> {
    await this.pool.query(
      `UPDATE alerts SET state = 'RESOLVED', resolved_at = now(), send_next_at = now()
       WHERE rule = $1 AND state = 'FIRING'`,
      [ruleId],
    );
  }

  /** Alerts the webhook must still be told about (due now), oldest first. */
  async toSend(limit: number): Promise<PendingSend[]> {
    const { rows } = await this.pool.query<AlertRow & { fired_sent_at: Date | null; send_attempts: number }>(
      `SELECT ${COLUMNS}, fired_sent_at, send_attempts FROM alerts
       WHERE (fired_sent_at IS NULL OR (state = 'RESOLVED' AND resolved_sent_at IS NULL))
         AND send_next_at <= now()
       ORDER BY send_next_at, id LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({
      alert: alertView(r),
      send: r.fired_sent_at === null ? 'alert.firing' : 'alert.resolved',
      attempts: r.send_attempts,
    }));
  }

  async sent(id: string, what: PendingSend['send']): Promise<void> {
    const column = what === 'alert.firing' ? 'fired_sent_at' : 'resolved_sent_at';
    await this.pool.query(
      `UPDATE alerts SET ${column} = now(), send_attempts = 0, send_next_at = now() WHERE id = $1`,
      [id],
    );
  }

  async sendFailed(id: string, delayMs: number): Promise<void> {
    await this.pool.query(
      `UPDATE alerts SET send_attempts = send_attempts + 1,
         send_next_at = now() + make_interval(secs => $2::double precision / 1000) WHERE id = $1`,
      [id, delayMs],
    );
  }
}
