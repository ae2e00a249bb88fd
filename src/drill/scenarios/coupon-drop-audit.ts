/**
 * The coupon-drop audit, from outside the server. Through the API it reads every user who tried
 * (GET /api/v1/me/coupons with their token) and the coupon (GET /api/v1/coupons/:id, read at
 * least 1.1 s after the load because `remaining` may lag by up to a second). With a database URL
 * it also reads user_coupons and coupons straight from PostgreSQL.
 *
 * Checks (names are stable):
 *   lists_readable              every user's coupon list could be read
 *   no_oversell                 units granted ≤ Q
 *   granted_matches_demand      units granted = min(Q, distinct users who tried); users whose
 *                               attempts all ended without a definite answer widen this to a range
 *   no_duplicate                no user holds it twice, and no user was answered 201 twice
 *   acknowledged_in_list        every 201 the drill saw is in that user's list (ack = durable)
 *   no_unacknowledged_grants    users holding it without a 201 ≤ users with an unknown outcome
 *   remaining_matches_granted   quantity − remaining = units granted
 *   remaining_zero_when_sold_out  when granted ≥ Q, remaining = 0
 *   db_*                        the same truths in PostgreSQL, and the API agrees with it
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { type AuditCheck, type AuditResult, auditDatabase, check, verdictOf } from '../audit.js';
import { readCouponFacts, withDatabase } from '../audit-queries.js';
import { mapLimit } from '../concurrency.js';
import { asArray, asObject, int, str } from '../shape.js';
import type { DropObservations } from './coupon-drop-types.js';
import type { AuditContext } from './types.js';

const REMAINING_LAG_MS = 1_100;

interface UserHolding {
  /** userCouponIds of this coupon in the user's list; null when the list could not be read. */
  ids: string[] | null;
  error?: string;
}

async function readHolding(ctx: AuditContext, token: string, couponId: string): Promise<UserHolding> {
  const res = await ctx.api.call('GET', '/api/v1/me/coupons', { token });
  if (res.status !== 200) return { ids: null, error: `GET /api/v1/me/coupons answered ${res.status}` };
  try {
    const items = asArray(asObject(res.json, 'me/coupons').items, 'me/coupons.items');
    const ids: string[] = [];
    for (const it of items) {
      const o = asObject(it, 'me/coupons item');
      if (str(o, 'couponId', 'me/coupons item') === couponId)
        ids.push(str(o, 'userCouponId', 'me/coupons item'));
    }
    return { ids };
  } catch (err) {
    return { ids: null, error: (err as Error).message };
  }
}

export async function auditCouponDrop(ctx: AuditContext, o: DropObservations): Promise<AuditResult> {
  const q = o.quantity;
  const tried: number[] = [];
  for (let u = 0; u < o.attempts.length; u++) if (o.attempts[u] > 0) tried.push(u);
  ctx.log(`audit: reading the coupon lists of ${tried.length} users through the API`);
  const holdings = await mapLimit(tried, 32, (u) => readHolding(ctx, o.users.tokens[u], o.couponId));

  let granted = 0;
  let holders = 0;
  let doubleHolders = 0;
  let double201 = 0;
  let unreadable = 0;
  let firstUnreadable = '';
  let missingAcks = 0;
  let firstMissing = '';
  let holdersWithout201 = 0;
  let definite = 0;
  let unknown = 0;
  let acked201 = 0;
  tried.forEach((u, i) => {
    const h = holdings[i];
    if (o.definite[u]) definite++;
    else if (o.ambiguous[u]) unknown++;
    if (o.issued[u] > 1) double201++;
    acked201 += o.issued[u];
    if (h.ids === null) {
      unreadable++;
      firstUnreadable ||= `user ${o.users.ids[u]}: ${h.error}`;
      return;
    }
    granted += h.ids.length;
    if (h.ids.length > 0) holders++;
    if (h.ids.length > 1) doubleHolders++;
    if (h.ids.length > 0 && o.issued[u] === 0 && !o.ambiguous[u]) holdersWithout201++;
    for (const id of o.acked.get(u) ?? []) {
      if (!h.ids.includes(id)) {
        missingAcks++;
        firstMissing ||= `user ${o.users.ids[u]} was answered 201 with userCouponId ${id}, which is not in their list`;
      }
    }
  });

  // remaining may lag by up to a second (API.md): read it only after that.
  const wait = REMAINING_LAG_MS - (performance.now() - ctx.loadEndedAt);
  if (wait > 0) await sleepMs(wait);
  const coupon = asObject(await ctx.api.must('GET', `/api/v1/coupons/${o.couponId}`, 200), 'coupon');
  const remaining = int(coupon, 'remaining', 'coupon');
  const quantity = int(coupon, 'quantity', 'coupon');

  const low = Math.min(q, definite);
  const high = Math.min(q, definite + unknown);
  const soldOut = granted >= q;
  const checks: AuditCheck[] = [
    check(
      'lists_readable',
      unreadable === 0,
      `${tried.length} lists`,
      `${tried.length - unreadable} readable`,
      unreadable
        ? `${unreadable} lists could not be read; first: ${firstUnreadable}`
        : 'every user who tried could read their coupons',
    ),
    check(
      'no_oversell',
      granted <= q,
      `≤ ${q}`,
      granted,
      `units granted (entries in users' lists) must not exceed the quantity ${q}`,
    ),
    check(
      'granted_matches_demand',
      granted >= low && granted <= high,
      low === high
        ? `${low} = min(Q ${q}, users ${definite})`
        : `${low}..${high} (${unknown} users' outcome unknown)`,
      granted,
      'an FCFS drop grants min(quantity, distinct users who tried): no unit left unsold while someone was refused, none beyond',
    ),
    check(
      'no_duplicate',
      doubleHolders === 0 && double201 === 0,
      '0 users with two',
      `${doubleHolders} holding twice, ${double201} answered 201 twice`,
      'one user gets a given FCFS coupon at most once',
    ),
    check(
      'acknowledged_in_list',
      missingAcks === 0,
      `${acked201} acknowledged in lists`,
      `${acked201 - missingAcks} found`,
      missingAcks
        ? `${missingAcks} acknowledged issues are missing; first: ${firstMissing}`
        : 'every 201 the drill saw is durable and visible to its user',
    ),
    check(
      'no_unacknowledged_grants',
      holdersWithout201 === 0,
      0,
      holdersWithout201,
      'a user holding the coupon without ever being answered 201 (and with no timed-out attempt) was granted silently',
    ),
    check(
      'remaining_matches_granted',
      quantity - remaining === granted,
      `quantity ${quantity} − remaining ${remaining} = ${quantity - remaining}`,
      granted,
      'the coupon counter the server publishes agrees with what its users hold',
    ),
  ];
  if (soldOut) {
    checks.push(
      check(
        'remaining_zero_when_sold_out',
        remaining === 0,
        0,
        remaining,
        `all ${q} granted, so nothing may remain`,
      ),
    );
  }

  const notes: string[] = [];
  const facts: AuditResult['facts'] = {
    quantity: q,
    remaining,
    granted,
    holders,
    usersTried: tried.length,
    usersWithDefiniteAnswer: definite,
    usersWithUnknownOutcome: unknown,
    answered201: acked201,
    answered410: o.sold410,
    soldOut,
  };

  await auditDatabase(ctx.databaseUrl, { checks, notes }, async (url) => {
    const db = await withDatabase(
      url,
      (client) => readCouponFacts(client, o.couponId),
      'stampede-drill-audit',
    );
    Object.assign(facts, {
      dbRows: db.rows,
      dbDistinctUsers: db.distinctUsers,
      dbIssuedCount: db.issuedCount,
      dbDuplicatedUsers: db.duplicatedUsers,
    });
    checks.push(
      check(
        'db_no_oversell',
        db.rows <= db.quantity,
        `≤ ${db.quantity}`,
        db.rows,
        'user_coupons rows for the coupon',
        'database',
      ),
      check(
        'db_no_duplicate',
        db.duplicatedUsers === 0,
        0,
        db.duplicatedUsers,
        'users with two rows for the coupon',
        'database',
      ),
      check(
        'db_counter_matches_rows',
        db.issuedCount === db.rows,
        db.rows,
        db.issuedCount,
        'coupons.issued_count equals the user_coupons rows',
        'database',
      ),
      check(
        'db_matches_api',
        db.rows === granted && unreadable === 0,
        `${granted} (seen through the API)`,
        db.rows,
        'PostgreSQL holds exactly what users see; more rows mean grants to users who never asked',
        'database',
      ),
    );
  });
  return { verdict: verdictOf(checks), checks, facts, notes };
}
