/**
 * waiting-room: a crowd lines up in front of a protected coupon drop.
 *   setup      U users (bulk) and one probe user, a waiting room with maxActive M and
 *              admitPerSecond R, and a coupon of quantity Q behind it (`waitingRoomId`)
 *   iteration  the next unused user joins (POST entries), then waits on its entry's event stream
 *              (GET entries/me/events — an open stream is the heartbeat) until the `admitted`
 *              event brings its pass, then issues the coupon with it in X-Waiting-Room-Pass. A
 *              stream that fails or ends early falls back to polling its entry (GET entries/me)
 *              about every second, as the waiting-room page does (wait-for-pass.ts, shared with
 *              the concert scenario). Each user joins once; once every user had a turn, an
 *              iteration only samples the room.
 *   sampling   at most every SAMPLE_MS a waiting VU also reads GET /waiting-rooms/:id (active, waiting)
 *   answers    join 201/200, read 200, issue 201 (or 410 SOLD_OUT when Q < U) are expected;
 *              everything else (403 without or with a refused pass, 5xx, timeouts) is a failure.
 *   defaults   U = max(100, 10 × peak VUs), Q = U, M = R = max(2, ⌈peak VUs / 20⌉) (so arrivals
 *              outrun admission), pass TTL 60 s, idle timeout 30 s, think time 0.5–1.5 s.
 */
import { performance } from 'node:perf_hooks';
import type { AuditResult } from '../audit.js';
import type { Registry } from '../metrics.js';
import { STATUS_COLOR } from '../report/colors.js';
import { asObject, int, str } from '../shape.js';
import type { VirtualUser } from '../vu.js';
import type { AuditContext, Scenario, ScenarioContext } from './types.js';
import { createUsers } from './users.js';
import { joinRoom, POLL_MS, waitForPass } from './wait-for-pass.js';
import { auditWaitingRoom } from './waiting-room-audit.js';
import type { RoomLimits, RoomObservations } from './waiting-room-types.js';

const READ_EXPECT = { 200: true } as const;
const ISSUE_EXPECT = { 201: true, 410: ['SOLD_OUT'] } as const;
/** At most one room sample per this many ms across all VUs. */
const SAMPLE_MS = 250;

export function createWaitingRoom(registry: Registry): Scenario {
  const joinedMetric = registry.define('waiting_room_joined', 'counter');
  const admittedMetric = registry.define('waiting_room_admitted', 'counter');
  const issuedMetric = registry.define('coupon_issued', 'counter');
  const lostMetric = registry.define('waiting_room_lost', 'counter');
  const waitMetric = registry.define('waiting_room_wait', 'trend');
  const pushedMetric = registry.define('waiting_room_pushed', 'rate');
  let obs: RoomObservations | null = null;

  async function sample(vu: VirtualUser, o: RoomObservations): Promise<void> {
    o.lastSampleAt = performance.now();
    const res = await vu.request({
      method: 'GET',
      path: `/api/v1/waiting-rooms/${encodeURIComponent(o.roomId)}`,
      name: 'room',
      expect: READ_EXPECT,
    });
    if (res.status !== 200) return;
    try {
      const r = asObject(res.json, 'room');
      const active = int(r, 'active', 'room');
      const waiting = int(r, 'waiting', 'room');
      const s = o.samples;
      s.count++;
      s.maxActive = Math.max(s.maxActive, active);
      s.maxWaiting = Math.max(s.maxWaiting, waiting);
      if (active > o.limits.maxActive) {
        s.over++;
        s.firstOver ||= `active ${active} at ${new Date().toISOString()}`;
      }
    } catch {
      vu.check(false, 'room answer has active and waiting');
    }
  }

  async function issue(vu: VirtualUser, o: RoomObservations, u: number, pass: string): Promise<void> {
    // Ambiguous until answered: an issue cut off when the run stops may still have been committed.
    o.ambiguous[u] = 1;
    const res = await vu.request({
      method: 'POST',
      path: `/api/v1/coupons/${encodeURIComponent(o.couponId)}/issue`,
      name: 'issue',
      token: o.users.tokens[u],
      headers: { 'x-waiting-room-pass': pass },
      expect: ISSUE_EXPECT,
    });
    vu.check(res.expected, 'issue with a pass answered 201 (or 410 SOLD_OUT)');
    if (res.status === 201) {
      issuedMetric.add(1);
      o.issued[u]++;
      o.usedPass ??= { user: u, pass };
      o.ambiguous[u] = 0;
    } else if (res.status === 503 || (res.status >= 400 && res.status < 500)) {
      o.ambiguous[u] = 0;
    }
  }

  return {
    name: 'waiting-room',
    description: 'A crowd lines up in a waiting room, waits its turn, then claims a protected coupon',
    defaultThresholds: [
      'http_req_failed: rate<0.01',
      'http_req_duration{name:join}: p(95)<500',
      'http_req_duration{name:issue}: p(95)<500',
      'checks: rate>0.99',
    ],
    defaultThinkTime: { minMs: 500, maxMs: 1_500 },
    businessCounters: [
      { metric: 'waiting_room_joined', label: 'joined', color: STATUS_COLOR['201'] },
      { metric: 'waiting_room_admitted', label: 'admitted', color: STATUS_COLOR['200'] },
      { metric: 'coupon_issued', label: 'issued', color: STATUS_COLOR['204'] },
      { metric: 'waiting_room_lost', label: 'lost place', color: STATUS_COLOR['410'] },
    ],

    async setup(ctx: ScenarioContext) {
      const userCount = ctx.params.users ?? Math.max(100, ctx.peakVUs * 10);
      const quantity = ctx.params.quantity ?? userCount;
      const m = Math.max(2, Math.ceil(ctx.peakVUs / 20));
      const limits: RoomLimits = {
        maxActive: m,
        admitPerSecond: m,
        passTtlSeconds: 60,
        idleTimeoutSeconds: 30,
      };
      const stamp = Date.now().toString(36);
      ctx.log(
        `setup: ${userCount} users, room maxActive ${limits.maxActive} admitPerSecond ${limits.admitPerSecond}, coupon quantity ${quantity}`,
      );
      const users = await createUsers(
        ctx.api,
        ctx.adminToken,
        userCount,
        `drill-${stamp}`,
        ctx.log,
        ctx.runTag,
      );
      const probe = await createUsers(
        ctx.api,
        ctx.adminToken,
        1,
        `drill-${stamp}-probe`,
        ctx.log,
        ctx.runTag,
      );
      const room = asObject(
        await ctx.api.must('POST', '/api/v1/admin/waiting-rooms', 201, {
          token: ctx.adminToken,
          body: { name: `drill waiting-room ${stamp}`, ...limits, runTag: ctx.runTag },
        }),
        'waiting room',
      );
      const roomId = str(room, 'id', 'waiting room');
      const coupon = asObject(
        await ctx.api.must('POST', '/api/v1/admin/coupons', 201, {
          token: ctx.adminToken,
          body: {
            name: `drill waiting-room ${stamp}`,
            discount: { type: 'AMOUNT', value: 1_000 },
            quantity,
            waitingRoomId: roomId,
            runTag: ctx.runTag,
          },
        }),
        'coupon',
      );
      const couponId = str(coupon, 'id', 'coupon');
      obs = {
        users,
        roomId,
        couponId,
        quantity,
        limits,
        probe: { id: probe.ids[0], token: probe.tokens[0] },
        taken: new Uint8Array(userCount),
        joined: new Uint8Array(userCount),
        admitted: new Uint8Array(userCount),
        issued: new Uint16Array(userCount),
        ambiguous: new Uint8Array(userCount),
        lost: new Uint8Array(userCount),
        usedPass: null,
        samples: { count: 0, maxActive: 0, maxWaiting: 0, over: 0, firstOver: '' },
        lastSampleAt: 0,
      };
    },

    async iteration(vu: VirtualUser) {
      const o = obs;
      if (!o) throw new Error('waiting-room: iteration before setup');
      const u = vu.iterationInTest;
      if (u >= o.users.ids.length) {
        // Everyone had a turn: what is left of the crowd watches the room.
        await sample(vu, o);
        await vu.sleep(POLL_MS);
        return;
      }
      o.taken[u] = 1;
      const seat = { roomId: o.roomId, token: o.users.tokens[u] };
      const joined = await joinRoom(vu, seat);
      if (!joined) return;
      o.joined[u] = 1;
      joinedMetric.add(1);
      const joinedAt = performance.now();
      const waited = await waitForPass(vu, seat, joined.entry, {
        whileWaiting: () =>
          performance.now() - o.lastSampleAt >= SAMPLE_MS ? sample(vu, o) : Promise.resolve(),
        onStreamEnd: (pushed) => pushedMetric.add(pushed),
      });
      const e = waited?.entry;
      if (!e) return;
      if (e.status !== 'ADMITTED') {
        o.lost[u] = 1;
        lostMetric.add(1, { status: e.status });
        return;
      }
      vu.check(e.pass !== undefined, 'an admitted entry carries its pass');
      if (e.pass === undefined) return;
      o.admitted[u] = 1;
      admittedMetric.add(1);
      waitMetric.add(performance.now() - joinedAt);
      await issue(vu, o, u, e.pass);
    },

    audit(ctx: AuditContext): Promise<AuditResult> {
      if (!obs) throw new Error('waiting-room: audit before setup');
      return auditWaitingRoom(ctx, obs);
    },

    describeSetup(): Record<string, number | string> {
      if (!obs) return {};
      return {
        roomId: obs.roomId,
        couponId: obs.couponId,
        quantity: obs.quantity,
        users: obs.users.ids.length,
        maxActive: obs.limits.maxActive,
        admitPerSecond: obs.limits.admitPerSecond,
        passTtlSeconds: obs.limits.passTtlSeconds,
        idleTimeoutSeconds: obs.limits.idleTimeoutSeconds,
      };
    },
  };
}
