/**
 * The waiting-room drill: a real embedded run (the drill starts and stops the server) passes its
 * audit, API and PostgreSQL checks alike; and the PostgreSQL rules catch a room that broke its
 * promises (snapshots built by hand).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { RoomEntryRow, WaitingRoomSnapshot } from '../../src/drill/audit-queries.js';
import { examineRoom } from '../../src/drill/scenarios/waiting-room-audit.js';
import type { DrillSummary } from '../../src/drill/summary.js';
import { expectedExit, LENIENT_THRESHOLDS, removeOutDirs, runDrillCli } from './support/run-cli.js';

afterAll(removeOutDirs);

describe('waiting-room against an embedded server the drill starts itself', () => {
  it('lines the crowd up, admits it in order and within limits, and passes its audit', async () => {
    const run = await runDrillCli([
      'waiting-room',
      '--profile',
      'spike',
      '--vus',
      '100',
      '--duration',
      '8s',
      '--users',
      '600',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    const explain = `exit ${run.code}\n${run.stdout}\n${run.stderr.slice(-3000)}`;
    expect(run.code, explain).toBe(expectedExit(run, 0));
    const s = run.summary as DrillSummary;
    expect(s.audit.verdict, explain).toBe('PASS');
    expect(s.setup_data.maxActive).toBe(5);
    expect(s.setup_data.admitPerSecond).toBe(5);
    const issued = s.metrics.coupon_issued?.values.count ?? 0;
    expect(issued).toBeGreaterThan(0);
    expect(s.audit.facts.answered201).toBe(issued);
    expect(s.audit.facts.dbCouponRows).toBe(issued);
    // Arrivals outran admission: people waited in line.
    expect(Number(s.audit.facts.sampledWaitingMax)).toBeGreaterThan(0);
    expect(s.audit.checks.map((c) => [c.name, c.ok])).toEqual([
      ['active_within_max', true],
      ['passless_issue_refused', true],
      ['used_pass_refused', true],
      ['issued_passes_done', true],
      ['issued_in_lists', true],
      ['db_admitted_in_join_order', true],
      ['db_nobody_admitted_twice', true],
      ['db_active_within_max', true],
      ['db_rate_within_limit', true],
      ['db_issued_with_pass', true],
      ['db_issued_entries_done', true],
      ['db_matches_api', true],
    ]);
  });
});

describe("the waiting-room audit's PostgreSQL rules", () => {
  const T = Date.parse('2026-12-04T18:00:00Z');
  const entry = (userId: string, seq: number, over: Partial<RoomEntryRow> = {}): RoomEntryRow => ({
    userId,
    seq,
    status: 'DONE',
    joinedAt: T,
    admittedAt: T,
    passExpiresAt: T + 60_000,
    endedAt: T + 500,
    ...over,
  });
  /** Users 1..n joined in order and were admitted one per 200 ms tick, each done 500 ms later. */
  const fair = (n: number): WaitingRoomSnapshot => {
    const entries = Array.from({ length: n }, (_, i) =>
      entry(String(i + 1), i + 1, { admittedAt: T + i * 200, endedAt: T + i * 200 + 500 }),
    );
    return {
      entries,
      admissions: entries.map((e, i) => ({
        id: String(i + 1),
        userId: e.userId,
        seq: e.seq as number,
        admittedAt: e.admittedAt as number,
        passExpiresAt: (e.admittedAt as number) + 60_000,
      })),
      couponRows: entries.map((e) => ({ userId: e.userId, issuedAt: (e.endedAt as number) - 10 })),
    };
  };

  it('finds nothing wrong in a fair room', () => {
    const f = examineRoom(fair(20));
    expect(f).toMatchObject({
      outOfOrder: 0,
      overtaken: 0,
      admittedTwice: 0,
      issuedWithoutPass: 0,
      holdersNotDone: 0,
      peakPerSecond: 5,
    });
    expect(f.peakActive).toBeLessThanOrEqual(3);
  });

  it('catches overtaking, a second admission, a pass-less coupon and a pass not ended', () => {
    const s = fair(5);
    [s.admissions[1].seq, s.admissions[2].seq] = [3, 2]; // seq 3 admitted before seq 2
    s.admissions.push({ ...s.admissions[0], id: '6' }); // user 1 again (logged after seq 5: out of order too)
    s.entries.push(
      entry('7', 7, { status: 'WAITING', admittedAt: null, passExpiresAt: null, endedAt: null }),
    );
    s.admissions.push({ id: '7', userId: '8', seq: 8, admittedAt: T + 2_000, passExpiresAt: T + 62_000 });
    s.entries.push(entry('8', 8, { status: 'ADMITTED', admittedAt: T + 2_000, endedAt: null }));
    s.couponRows.push({ userId: '8', issuedAt: T + 2_100 }, { userId: '9', issuedAt: T + 2_100 });
    const f = examineRoom(s);
    expect(f.outOfOrder).toBe(2);
    expect(f.overtaken).toBe(1); // user 7 (seq 7) still waits while seq 8 was admitted
    expect(f.admittedTwice).toBe(1);
    expect(f.issuedWithoutPass).toBe(1); // user 9 was never admitted
    expect(f.holdersNotDone).toBe(2); // user 8 is still ADMITTED, user 9 has no entry
  });

  it('rebuilds concurrency and rate from the log', () => {
    // Ten admitted in one tick, none ending: 10 live passes, 10 admissions within a second.
    const s = fair(10);
    for (const a of s.admissions) a.admittedAt = T;
    for (const e of s.entries) e.endedAt = null;
    const f = examineRoom(s);
    expect(f.peakActive).toBe(10);
    expect(f.peakPerSecond).toBe(10);
    // A pass that expired, or ended more than a tick before, does not count as live.
    const t = fair(2);
    t.admissions[1].admittedAt = T + 70_000;
    t.entries[0].endedAt = null;
    expect(examineRoom(t).peakActive).toBe(1);
  });
});
