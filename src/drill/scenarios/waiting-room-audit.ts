/**
 * The waiting-room audit, from outside the server. Through the API: the room samples taken during
 * the run, every issued user's entry (GET entries/me) and coupon list, and two probes (an issue
 * without a pass, and one with a pass already used). With a database URL it reads the room's
 * entries, its admission log and the coupon's rows from PostgreSQL, in one snapshot.
 *
 * Checks (names are stable):
 *   active_within_max           `active` sampled from GET room never above maxActive
 *   passless_issue_refused      an issue without a pass is 403 NOT_ADMITTED
 *   used_pass_refused           an issue with a pass already used is 403 NOT_ADMITTED
 *   issued_passes_done          every user answered 201 reads their entry as DONE (the purchase ended the pass)
 *   issued_in_lists             every user answered 201 holds the coupon once
 *   db_admitted_in_join_order   the admission log, by id, has increasing seq, and no entry still
 *                               waiting (heartbeat kept) sits before an admitted one: no overtaking
 *   db_nobody_admitted_twice    one admission per user
 *   db_active_within_max        at no admission time did more than maxActive entries hold a live pass
 *                               (admitted, pass not expired, not ended), rebuilt from admitted_at,
 *                               pass_expires_at and ended_at
 *   db_rate_within_limit        over any one-second window, admissions ≤ admitPerSecond + one tick's
 *                               worth (⌈admitPerSecond × 0.2⌉)
 *   db_issued_with_pass         every user_coupons row of the drop is a user admitted in the room,
 *                               issued between the admission and the pass's expiry
 *   db_issued_entries_done      every holder's entry is DONE
 *   db_matches_api              the coupon rows are the users the drill saw answered 201
 */
import { type AuditCheck, type AuditResult, auditDatabase, check, verdictOf } from '../audit.js';
import { readWaitingRoomSnapshot, type WaitingRoomSnapshot, withDatabase } from '../audit-queries.js';
import { mapLimit } from '../concurrency.js';
import { asArray, asObject, str } from '../shape.js';
import type { AuditContext } from './types.js';
import type { RoomObservations } from './waiting-room-types.js';

/** The admitter's period, ms (one tick's worth of admissions is allowed above the rate). */
const TICK_MS = 200;
/**
 * ended_at is PostgreSQL's clock when the purchase ended the pass; admitted_at is the admitter's
 * tick time, taken before it reads the gate. A pass ended up to one tick after a tick's time may
 * have freed its slot for that tick, so it counts as ended at it.
 */
const END_SLACK_MS = TICK_MS;

interface Probe {
  status: number;
  code: string | null;
}

async function probeIssue(ctx: AuditContext, couponId: string, token: string, pass?: string): Promise<Probe> {
  const res = await ctx.api.call('POST', `/api/v1/coupons/${encodeURIComponent(couponId)}/issue`, {
    token,
    headers: pass === undefined ? {} : { 'x-waiting-room-pass': pass },
  });
  return { status: res.status, code: res.code };
}

interface IssuedUser {
  entryStatus: string | null;
  holds: number | null;
  error?: string;
}

async function readIssued(ctx: AuditContext, o: RoomObservations, u: number): Promise<IssuedUser> {
  const token = o.users.tokens[u];
  const out: IssuedUser = { entryStatus: null, holds: null };
  const e = await ctx.api.call('GET', `/api/v1/waiting-rooms/${encodeURIComponent(o.roomId)}/entries/me`, {
    token,
  });
  if (e.status === 200) {
    try {
      out.entryStatus = str(asObject(e.json, 'entry'), 'status', 'entry');
    } catch (err) {
      out.error = (err as Error).message;
    }
  } else out.error = `GET entries/me answered ${e.status}`;
  const c = await ctx.api.call('GET', '/api/v1/me/coupons', { token });
  if (c.status === 200) {
    try {
      const items = asArray(asObject(c.json, 'me/coupons').items, 'me/coupons.items');
      out.holds = items.filter((it) => str(asObject(it, 'item'), 'couponId', 'item') === o.couponId).length;
    } catch (err) {
      out.error ??= (err as Error).message;
    }
  } else out.error ??= `GET /api/v1/me/coupons answered ${c.status}`;
  return out;
}

/** Sorted ascending: how many values are ≤ x. */
function countAtMost(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface RoomFindings {
  admissions: number;
  outOfOrder: number;
  firstOutOfOrder: string;
  /** Entries still WAITING (never dropped) with a seq below an admitted one. */
  overtaken: number;
  firstOvertaken: string;
  /** Entries dropped for missing heartbeats (EXPIRED, never admitted). */
  dropped: number;
  admittedTwice: number;
  /** Most entries holding a live pass at one admission time, and when. */
  peakActive: number;
  peakActiveAt: string;
  /** Most admissions in one one-second window, and where it starts. */
  peakPerSecond: number;
  peakPerSecondAt: string;
  /** Coupon rows of users never admitted, or issued outside their pass's lifetime. */
  issuedWithoutPass: number;
  firstWithoutPass: string;
  /** Coupon holders whose entry is not DONE. */
  holdersNotDone: number;
  firstNotDone: string;
  couponHolders: string[];
}

/** Judges a snapshot of a room (exported for tests that build snapshots by hand). */
export function examineRoom(s: WaitingRoomSnapshot): RoomFindings {
  const f: RoomFindings = {
    admissions: s.admissions.length,
    outOfOrder: 0,
    firstOutOfOrder: '',
    overtaken: 0,
    firstOvertaken: '',
    dropped: 0,
    admittedTwice: 0,
    peakActive: 0,
    peakActiveAt: '',
    peakPerSecond: 0,
    peakPerSecondAt: '',
    issuedWithoutPass: 0,
    firstWithoutPass: '',
    holdersNotDone: 0,
    firstNotDone: '',
    couponHolders: s.couponRows.map((r) => r.userId),
  };
  const entryOf = new Map(s.entries.map((e) => [e.userId, e]));
  const admissionsOf = new Map<string, number>();
  let maxSeq = Number.NEGATIVE_INFINITY;
  let prev: (typeof s.admissions)[number] | null = null;
  for (const a of s.admissions) {
    admissionsOf.set(a.userId, (admissionsOf.get(a.userId) ?? 0) + 1);
    if (prev && a.seq <= prev.seq) {
      f.outOfOrder++;
      f.firstOutOfOrder ||= `admission ${a.id} (user ${a.userId}, seq ${a.seq}) logged after seq ${prev.seq}`;
    }
    maxSeq = Math.max(maxSeq, a.seq);
    prev = a;
  }
  for (const n of admissionsOf.values()) if (n > 1) f.admittedTwice++;
  for (const e of s.entries) {
    if (e.status === 'EXPIRED' && e.admittedAt === null) f.dropped++;
    if (e.status === 'WAITING' && e.seq !== null && e.seq < maxSeq) {
      f.overtaken++;
      f.firstOvertaken ||= `user ${e.userId} (seq ${e.seq}) still waits while seq ${maxSeq} was admitted`;
    }
  }

  // Live passes at each admission time: admitted at or before t, pass not expired at t, not ended
  // by t (+ slack). A pass is always live at its own admission time.
  const starts = s.admissions.map((a) => a.admittedAt).sort((x, y) => x - y);
  const ends = s.admissions
    .map((a) => {
      const endedAt = entryOf.get(a.userId)?.endedAt ?? null;
      const end = Math.min(
        a.passExpiresAt,
        endedAt === null ? Number.POSITIVE_INFINITY : endedAt - END_SLACK_MS,
      );
      return Math.max(end, a.admittedAt + 1);
    })
    .sort((x, y) => x - y);
  for (const t of new Set(starts)) {
    const live = countAtMost(starts, t) - countAtMost(ends, t);
    if (live > f.peakActive) {
      f.peakActive = live;
      f.peakActiveAt = new Date(t).toISOString();
    }
  }
  // Admissions in any window [t, t + 1 s), t an admission time.
  for (let i = 0, j = 0; i < starts.length; i++) {
    while (j < starts.length && starts[j] < starts[i] + 1_000) j++;
    if (j - i > f.peakPerSecond) {
      f.peakPerSecond = j - i;
      f.peakPerSecondAt = new Date(starts[i]).toISOString();
    }
  }

  const firstAdmission = new Map<string, (typeof s.admissions)[number]>();
  for (const a of s.admissions) if (!firstAdmission.has(a.userId)) firstAdmission.set(a.userId, a);
  for (const r of s.couponRows) {
    const a = firstAdmission.get(r.userId);
    if (!a || r.issuedAt < a.admittedAt || r.issuedAt > a.passExpiresAt) {
      f.issuedWithoutPass++;
      f.firstWithoutPass ||= a
        ? `user ${r.userId} issued at ${new Date(r.issuedAt).toISOString()}, pass ${new Date(a.admittedAt).toISOString()}..${new Date(a.passExpiresAt).toISOString()}`
        : `user ${r.userId} holds the coupon and was never admitted`;
    }
    const e = entryOf.get(r.userId);
    if (e?.status !== 'DONE') {
      f.holdersNotDone++;
      f.firstNotDone ||= `user ${r.userId}'s entry is ${e?.status ?? 'gone'}`;
    }
  }
  return f;
}

export async function auditWaitingRoom(ctx: AuditContext, o: RoomObservations): Promise<AuditResult> {
  const lim = o.limits;
  const issuedUsers: number[] = [];
  let joined = 0;
  let admitted = 0;
  let lost = 0;
  let answered201 = 0;
  for (let u = 0; u < o.taken.length; u++) {
    joined += o.joined[u];
    admitted += o.admitted[u];
    lost += o.lost[u];
    answered201 += o.issued[u];
    if (o.issued[u] > 0) issuedUsers.push(u);
  }
  ctx.log(`audit: reading the entries and coupon lists of ${issuedUsers.length} users who issued`);
  const read = await mapLimit(issuedUsers, 32, (u) => readIssued(ctx, o, u));
  let notDone = 0;
  let firstNotDone = '';
  let wrongHolding = 0;
  let firstWrong = '';
  issuedUsers.forEach((u, i) => {
    const r = read[i];
    if (r.entryStatus !== 'DONE') {
      notDone++;
      firstNotDone ||= `user ${o.users.ids[u]}: ${r.entryStatus ?? r.error}`;
    }
    if (r.holds !== 1 || o.issued[u] !== 1) {
      wrongHolding++;
      firstWrong ||= `user ${o.users.ids[u]}: holds ${r.holds ?? r.error}, answered 201 ${o.issued[u]} times`;
    }
  });

  const passless = await probeIssue(ctx, o.couponId, o.probe.token);
  const used = o.usedPass
    ? await probeIssue(ctx, o.couponId, o.users.tokens[o.usedPass.user], o.usedPass.pass)
    : null;

  const s = o.samples;
  const checks: AuditCheck[] = [
    check(
      'active_within_max',
      s.count > 0 && s.over === 0,
      `≤ ${lim.maxActive} in every sample`,
      `max ${s.maxActive} over ${s.count} samples`,
      s.over
        ? `${s.over} samples above maxActive; first: ${s.firstOver}`
        : s.count
          ? 'GET room never reported more active passes than the room allows'
          : 'no room sample was taken during the run',
    ),
    check(
      'passless_issue_refused',
      passless.status === 403 && passless.code === 'NOT_ADMITTED',
      '403 NOT_ADMITTED',
      `${passless.status} ${passless.code ?? ''}`.trim(),
      'a user who never waited cannot claim the protected coupon',
    ),
  ];
  if (used) {
    checks.push(
      check(
        'used_pass_refused',
        used.status === 403 && used.code === 'NOT_ADMITTED',
        '403 NOT_ADMITTED',
        `${used.status} ${used.code ?? ''}`.trim(),
        'a pass spent on a purchase cannot be presented again',
      ),
    );
  }
  checks.push(
    check(
      'issued_passes_done',
      notDone === 0,
      `${issuedUsers.length} entries DONE`,
      `${issuedUsers.length - notDone} DONE`,
      notDone
        ? `${notDone} users answered 201 whose entry is not DONE; first: ${firstNotDone}`
        : 'every purchase ended its pass',
    ),
    check(
      'issued_in_lists',
      wrongHolding === 0,
      `${issuedUsers.length} users holding it once`,
      `${issuedUsers.length - wrongHolding}`,
      wrongHolding
        ? `${wrongHolding} users answered 201 do not hold it exactly once; first: ${firstWrong}`
        : 'every 201 is durable and visible to its user, once',
    ),
  );

  const facts: AuditResult['facts'] = {
    maxActive: lim.maxActive,
    admitPerSecond: lim.admitPerSecond,
    usersJoined: joined,
    usersAdmitted: admitted,
    usersLostPlace: lost,
    answered201,
    roomSamples: s.count,
    sampledActiveMax: s.maxActive,
    sampledWaitingMax: s.maxWaiting,
  };
  const notes: string[] = [];
  if (!o.usedPass) notes.push('used_pass_refused not checked: nobody issued.');

  await auditDatabase(
    ctx.databaseUrl,
    { checks, notes },
    async (url) => {
      const snap = await withDatabase(
        url,
        (db) => readWaitingRoomSnapshot(db, o.roomId, o.couponId),
        'stampede-drill-audit',
      );
      const f = examineRoom(snap);
      const rateBound = lim.admitPerSecond + Math.ceil(lim.admitPerSecond * (TICK_MS / 1_000));
      const seen = new Set(issuedUsers.map((u) => o.users.ids[u]));
      const ambiguous = new Set<string>();
      for (let u = 0; u < o.ambiguous.length; u++) if (o.ambiguous[u]) ambiguous.add(o.users.ids[u]);
      const holders = new Set(f.couponHolders);
      const unseen = f.couponHolders.filter((h) => !seen.has(h) && !ambiguous.has(h)).length;
      const missing = [...seen].filter((h) => !holders.has(h)).length;
      Object.assign(facts, {
        dbEntries: snap.entries.length,
        dbAdmissions: f.admissions,
        dbDroppedForHeartbeat: f.dropped,
        dbPeakActive: f.peakActive,
        dbPeakAdmissionsPerSecond: f.peakPerSecond,
        dbCouponRows: snap.couponRows.length,
      });
      checks.push(
        check(
          'db_admitted_in_join_order',
          f.outOfOrder === 0 && f.overtaken === 0,
          '0 out of order, 0 overtaken',
          `${f.outOfOrder} out of order, ${f.overtaken} overtaken`,
          f.outOfOrder || f.overtaken
            ? `first: ${f.firstOutOfOrder || f.firstOvertaken}`
            : `${f.admissions} admissions in join order; ${f.dropped} entries dropped for missing heartbeats are not counted`,
          'database',
        ),
        check(
          'db_nobody_admitted_twice',
          f.admittedTwice === 0,
          0,
          f.admittedTwice,
          'users with more than one row in waiting_room_admissions',
          'database',
        ),
        check(
          'db_active_within_max',
          f.peakActive <= lim.maxActive,
          `≤ ${lim.maxActive}`,
          f.peakActive,
          f.peakActive > lim.maxActive
            ? `${f.peakActive} live passes at ${f.peakActiveAt}`
            : `most live passes at one admission time${f.peakActiveAt ? ` (${f.peakActiveAt})` : ''}, from admitted_at, pass_expires_at and ended_at`,
          'database',
        ),
        check(
          'db_rate_within_limit',
          f.peakPerSecond <= rateBound,
          `≤ ${rateBound} (${lim.admitPerSecond}/s + one tick)`,
          f.peakPerSecond,
          `most admissions in one second${f.peakPerSecondAt ? `, from ${f.peakPerSecondAt}` : ''}`,
          'database',
        ),
        check(
          'db_issued_with_pass',
          f.issuedWithoutPass === 0,
          0,
          f.issuedWithoutPass,
          f.issuedWithoutPass
            ? `coupon rows without a live pass; first: ${f.firstWithoutPass}`
            : 'every coupon row belongs to a user admitted in the room, issued while the pass was live',
          'database',
        ),
        check(
          'db_issued_entries_done',
          f.holdersNotDone === 0,
          0,
          f.holdersNotDone,
          f.holdersNotDone
            ? `holders whose entry is not DONE; first: ${f.firstNotDone}`
            : "every holder's entry is DONE: the purchase ended the pass",
          'database',
        ),
        check(
          'db_matches_api',
          unseen === 0 && missing === 0,
          `${seen.size} rows (the users answered 201)`,
          `${snap.couponRows.length} rows, ${missing} answered 201 without a row, ${unseen} rows never answered`,
          'PostgreSQL holds exactly the coupons the crowd was answered 201 for',
          'database',
        ),
      );
    },
    'PostgreSQL not audited (no --database-url; automatic only in embedded mode): admission order, concurrency and rate were not rebuilt from the admission log.',
  );
  return { verdict: verdictOf(checks), checks, facts, notes };
}
