/**
 * coupon-drop: an FCFS coupon of quantity Q opens; U users rush to claim it.
 *   setup      U users (bulk), then the coupon (so the drop opens just before the crowd)
 *   iteration  the next user in turn (iterationInTest mod U) claims it; with probability
 *              retryShare they click again at once (a duplicate). After every user has had a
 *              turn, returning users try again — as in a real drop.
 *   answers    201 issued · 409 ALREADY_ISSUED (duplicate) · 410 SOLD_OUT are EXPECTED answers,
 *              not http_req_failed; everything else (5xx, timeouts, other codes) is a failure.
 *   defaults   U = max(100, 20 × peak VUs), Q = U / 2, retryShare = 0.1, think time 0.5–1.5 s.
 * It remembers, per user, every 201 (with its userCouponId) and whether any attempt ended without
 * a definite answer (timeout, 5xx other than 503), which the audit needs to bound what is owed.
 */
import type { AuditResult } from '../audit.js';
import type { Metric, Registry } from '../metrics.js';
import { STATUS_COLOR } from '../report/colors.js';
import { asObject, int, optStr, str } from '../shape.js';
import type { VirtualUser } from '../vu.js';
import { auditCouponDrop } from './coupon-drop-audit.js';
import type { DropObservations } from './coupon-drop-types.js';
import type { AuditContext, Scenario, ScenarioContext } from './types.js';
import { createUsers } from './users.js';

export const ISSUE_EXPECT = { 201: true, 409: ['ALREADY_ISSUED'], 410: ['SOLD_OUT'] } as const;

export function createCouponDrop(registry: Registry): Scenario {
  const issuedMetric: Metric = registry.define('coupon_issued', 'counter');
  const soldOutMetric = registry.define('coupon_sold_out', 'counter');
  const duplicateMetric = registry.define('coupon_duplicate', 'counter');
  const otherMetric = registry.define('coupon_other_answer', 'counter');
  let obs: DropObservations | null = null;
  let retryShare = 0.1;

  async function attempt(vu: VirtualUser, o: DropObservations, u: number): Promise<void> {
    o.attempts[u]++;
    const res = await vu.request({
      method: 'POST',
      path: `/api/v1/coupons/${encodeURIComponent(o.couponId)}/issue`,
      name: 'issue',
      token: o.users.tokens[u],
      expect: ISSUE_EXPECT,
    });
    vu.check(res.expected, 'issue answered 201, 409 ALREADY_ISSUED or 410 SOLD_OUT');
    if (res.status === 201) {
      issuedMetric.add(1);
      o.issued[u]++;
      o.definite[u] = 1;
      let id: string | undefined;
      try {
        id = optStr(asObject(res.json, 'issue 201'), 'userCouponId', 'issue 201');
      } catch {
        id = undefined;
      }
      vu.check(id !== undefined, '201 carries a userCouponId');
      if (id !== undefined) {
        const list = o.acked.get(u);
        if (list) list.push(id);
        else o.acked.set(u, [id]);
      }
    } else if (res.status === 409 && res.code === 'ALREADY_ISSUED') {
      duplicateMetric.add(1);
      o.definite[u] = 1;
    } else if (res.status === 410 && res.code === 'SOLD_OUT') {
      soldOutMetric.add(1);
      o.sold410++;
      o.definite[u] = 1;
    } else {
      otherMetric.add(1, { status: String(res.status) });
      // 503 UNAVAILABLE promises nothing was issued; other failures leave it unknown.
      if (!(res.status === 503 || (res.status >= 400 && res.status < 500))) o.ambiguous[u] = 1;
    }
  }

  return {
    name: 'coupon-drop',
    description: 'FCFS coupon drop: users rush to claim a limited coupon; some click twice',
    defaultThresholds: [
      'http_req_failed: rate<0.01',
      'http_req_duration{name:issue}: p(95)<500',
      'checks: rate>0.99',
    ],
    defaultThinkTime: { minMs: 500, maxMs: 1_500 },
    businessCounters: [
      { metric: 'coupon_issued', label: 'issued', color: STATUS_COLOR['201'] },
      { metric: 'coupon_sold_out', label: 'sold out', color: STATUS_COLOR['410'] },
      { metric: 'coupon_duplicate', label: 'duplicate', color: STATUS_COLOR['409'] },
    ],

    async setup(ctx: ScenarioContext) {
      const userCount = ctx.params.users ?? Math.max(100, ctx.peakVUs * 20);
      const quantity = ctx.params.quantity ?? Math.max(1, Math.floor(userCount / 2));
      retryShare = ctx.params.retryShare ?? 0.1;
      const stamp = Date.now().toString(36);
      ctx.log(`setup: ${userCount} users, coupon quantity ${quantity}, retry share ${retryShare}`);
      const users = await createUsers(
        ctx.api,
        ctx.adminToken,
        userCount,
        `drill-${stamp}`,
        ctx.log,
        ctx.runTag,
      );
      const coupon = asObject(
        await ctx.api.must('POST', '/api/v1/admin/coupons', 201, {
          token: ctx.adminToken,
          body: {
            name: `drill coupon-drop ${stamp}`,
            discount: { type: 'AMOUNT', value: 1_000 },
            quantity,
            runTag: ctx.runTag,
          },
        }),
        'coupon',
      );
      const couponId = str(coupon, 'id', 'coupon');
      if (int(coupon, 'quantity', 'coupon') !== quantity)
        throw new Error('the coupon was created with another quantity');
      obs = {
        users,
        couponId,
        quantity,
        attempts: new Uint32Array(userCount),
        issued: new Uint16Array(userCount),
        definite: new Uint8Array(userCount),
        ambiguous: new Uint8Array(userCount),
        acked: new Map(),
        sold410: 0,
      };
    },

    async iteration(vu: VirtualUser) {
      const o = obs;
      if (!o) throw new Error('coupon-drop: iteration before setup');
      const u = vu.iterationInTest % o.users.ids.length;
      await attempt(vu, o, u);
      if (vu.rng() < retryShare) await attempt(vu, o, u);
    },

    audit(ctx: AuditContext): Promise<AuditResult> {
      if (!obs) throw new Error('coupon-drop: audit before setup');
      return auditCouponDrop(ctx, obs);
    },

    describeSetup(): Record<string, number | string> {
      if (!obs) return {};
      return { couponId: obs.couponId, quantity: obs.quantity, users: obs.users.ids.length, retryShare };
    },
  };
}
