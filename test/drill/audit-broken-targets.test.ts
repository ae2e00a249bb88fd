/**
 * The audit is only worth something if it fails on real bugs. Each test points the real CLI at
 * a small node:http stand-in of the coupon API that is wrong in one way, and expects exit 98 with
 * exactly the check that names that bug among the failures — plus a correct stand-in as control.
 * The concert audit is shown a real server's database after a passing run, with one row at a time
 * tampered with (and put back): its PostgreSQL judgement then fails the check naming that row.
 */
import type pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/drill/api-client.js';
import { readCommerceFacts, readConcertSnapshot, withDatabase } from '../../src/drill/audit-queries.js';
import { readSeatMap } from '../../src/drill/scenarios/concert-audit.js';
import { concertDatabaseChecks } from '../../src/drill/scenarios/concert-audit-rules.js';
import { type Bug, FAKE_ADMIN_TOKEN, type FakeApi, startFakeCouponApi } from './support/fake-coupon-api.js';
import {
  expectedExit,
  failedChecks,
  LENIENT_THRESHOLDS,
  removeOutDirs,
  runDrillCli,
} from './support/run-cli.js';
import { type ServerProcess, startServerProcess } from './support/server-process.js';

afterAll(removeOutDirs);

let api: FakeApi | null = null;
afterEach(async () => {
  await api?.close();
  api = null;
});

async function drillAgainst(bug: Bug | undefined, extra: string[]) {
  api = await startFakeCouponApi({ bug });
  return runDrillCli([
    'coupon-drop',
    '--target',
    api.url,
    '--admin-token',
    FAKE_ADMIN_TOKEN,
    '--vus',
    '40',
    '--duration',
    '2s',
    '--think-time',
    '20ms..60ms',
    '--graceful-stop',
    '2s',
    '--quiet',
    ...LENIENT_THRESHOLDS,
    ...extra,
  ]);
}

describe('the coupon-drop audit against deliberately broken targets', () => {
  it('passes a correct target (control): exit 0, every check green', async () => {
    const run = await drillAgainst(undefined, ['--users', '200', '--quantity', '50']);
    expect(failedChecks(run)).toEqual([]);
    expect(run.summary?.audit.verdict).toBe('PASS');
    expect(run.summary?.audit.facts.granted).toBe(50);
    expect(run.code, run.stderr).toBe(expectedExit(run, 0));
  });

  it('catches an oversell (off-by-one stock check): no_oversell fails, exit 98', async () => {
    const run = await drillAgainst('oversell', ['--users', '200', '--quantity', '50']);
    expect(run.code, run.stderr).toBe(98);
    expect(run.summary?.audit.verdict).toBe('FAIL');
    expect(failedChecks(run)).toContain('no_oversell');
    expect(run.summary?.audit.facts.granted).toBe(51);
    // Nobody holds it twice here: the audit names the bug, not everything.
    expect(failedChecks(run)).not.toContain('no_duplicate');
    expect(run.stdout).toMatch(/✗ no_oversell/);
  });

  it('catches a double issue to the same user: no_duplicate fails, exit 98', async () => {
    const run = await drillAgainst('double-issue', [
      '--users',
      '100',
      '--quantity',
      '100000',
      '--retry-share',
      '0.5',
    ]);
    expect(run.code, run.stderr).toBe(98);
    expect(failedChecks(run)).toContain('no_duplicate');
    expect(failedChecks(run)).not.toContain('no_oversell');
    expect(failedChecks(run)).not.toContain('acknowledged_in_list');
  });

  it('catches a 201 that was never stored: acknowledged_in_list fails, exit 98', async () => {
    const run = await drillAgainst('lost-write', ['--users', '200', '--quantity', '100000']);
    expect(run.code, run.stderr).toBe(98);
    expect(failedChecks(run)).toContain('acknowledged_in_list');
    // (no_duplicate may fail too: a user whose first 201 was lost retries and is answered 201 again.)
    expect(failedChecks(run)).not.toContain('no_oversell');
    const check = run.summary?.audit.checks.find((c) => c.name === 'acknowledged_in_list');
    expect(check?.detail).toMatch(/not in their list/);
  });
});

describe('the concert audit against a database tampered with after a run', () => {
  let server: ServerProcess | null = null;
  afterAll(async () => {
    await server?.stop();
  });

  it('passes the run as it was, then fails the check that names each tampered row', async () => {
    server = await startServerProcess();
    const srv = server;
    const run = await runDrillCli([
      'concert',
      '--target',
      srv.url,
      '--admin-token',
      srv.adminToken,
      '--database-url',
      srv.databaseUrl,
      '--profile',
      'concert',
      '--duration',
      '8s',
      '--scale',
      '0.2',
      '--graceful-stop',
      '3s',
      '--quiet',
      ...LENIENT_THRESHOLDS,
    ]);
    expect(failedChecks(run), run.stdout).toEqual([]);
    expect(run.code, run.stderr).toBe(expectedExit(run, 0));
    const setup = run.summary?.setup_data ?? {};
    const scheduleIds = String(setup.scheduleIds).split(',');
    const schedules = scheduleIds.map((id) => ({ id, seatCount: Number(setup.seatsPerSchedule) }));
    const roomId = String(setup.roomId);
    const api = new ApiClient(srv.url);
    const mapSold = new Map<string, number | null>();
    for (const id of scheduleIds) {
      const m = await readSeatMap(api, id);
      mapSold.set(id, 'error' in m ? null : m.sold.size);
    }
    await api.close();

    await withDatabase(srv.databaseUrl, async (db) => {
      const before = await readConcertSnapshot(db, scheduleIds, roomId);
      // The run's audit passed: its 200s are exactly the PAID reservations.
      const paid = before.reservations.filter((r) => r.status === 'PAID');
      expect(paid.length).toBeGreaterThan(0);
      const failing = async () => {
        const snap = await readConcertSnapshot(db, scheduleIds, roomId);
        const { walletsOff } = await readCommerceFacts(db, new Map());
        const r = concertDatabaseChecks(snap, {
          schedules,
          paid: paid.map((p) => ({
            reservationId: p.id,
            scheduleId: p.scheduleId,
            seats: p.seats,
            total: p.total,
          })),
          mapSold,
          walletsOff,
        });
        return r.checks.filter((c) => !c.ok).map((c) => c.name);
      };
      const tampered = async (doIt: (db: pg.Client) => Promise<unknown>, undo: () => Promise<unknown>) => {
        await doIt(db);
        try {
          return await failing();
        } finally {
          await undo();
        }
      };
      expect(await failing()).toEqual([]);
      const p = paid[0];

      // Paid after the hold had expired.
      const paidAt = (await db.query('SELECT paid_at FROM seat_reservations WHERE id = $1', [p.id])).rows[0]
        .paid_at;
      expect(
        await tampered(
          (d) =>
            d.query("UPDATE seat_reservations SET paid_at = expires_at + interval '1 second' WHERE id = $1", [
              p.id,
            ]),
          () => db.query('UPDATE seat_reservations SET paid_at = $2 WHERE id = $1', [p.id, paidAt]),
        ),
      ).toEqual(['db_no_late_payment']);

      // A 200 whose sale was never written.
      let lost: { schedule_id: string; seat_number: number; user_id: string; sold_at: Date }[] = [];
      expect(
        await tampered(
          async (d) => {
            lost = (await d.query('DELETE FROM sold_seats WHERE reservation_id = $1 RETURNING *', [p.id]))
              .rows;
          },
          () =>
            Promise.all(
              lost.map((x) =>
                db.query(
                  'INSERT INTO sold_seats (schedule_id, seat_number, reservation_id, user_id, sold_at) VALUES ($1, $2, $3, $4, $5)',
                  [x.schedule_id, x.seat_number, p.id, x.user_id, x.sold_at],
                ),
              ),
            ),
        ),
      ).toEqual(['db_seats_accounted', 'db_paid_are_sold']);

      // The same seats paid by someone else too.
      const other = before.reservations.find((r) => r.userId !== p.userId) ?? p;
      let extra = '';
      const twice = await tampered(
        async (d) => {
          extra = (
            await d.query(
              `INSERT INTO seat_reservations (schedule_id, user_id, seats, total, status, expires_at, paid_at)
               VALUES ($1, $2, $3, $4, 'PAID', now() + interval '5 minutes', now()) RETURNING id::text AS id`,
              [p.scheduleId, other.userId, p.seats, p.total],
            )
          ).rows[0].id;
        },
        () => db.query('DELETE FROM seat_reservations WHERE id = $1', [extra]),
      );
      expect(twice).toContain('db_no_seat_sold_twice');
      expect(twice).toContain('db_seats_accounted');

      // A hold by a user the room never admitted.
      let log: {
        id: string;
        room_id: string;
        user_id: string;
        seq: string;
        admitted_at: Date;
        pass_expires_at: Date;
      }[] = [];
      expect(
        await tampered(
          async (d) => {
            log = (
              await d.query(
                'DELETE FROM waiting_room_admissions WHERE room_id = $1 AND user_id = $2 RETURNING *',
                [roomId, p.userId],
              )
            ).rows;
          },
          () =>
            Promise.all(
              log.map((a) =>
                db.query(
                  `INSERT INTO waiting_room_admissions (id, room_id, user_id, seq, admitted_at, pass_expires_at)
                   OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6)`,
                  [a.id, a.room_id, a.user_id, a.seq, a.admitted_at, a.pass_expires_at],
                ),
              ),
            ),
        ),
      ).toEqual(['db_holds_had_pass']);

      // A wallet off its ledger, then a payment taken twice.
      expect(
        await tampered(
          (d) => d.query('UPDATE point_wallets SET balance = balance + 1 WHERE user_id = $1', [p.userId]),
          () => db.query('UPDATE point_wallets SET balance = balance - 1 WHERE user_id = $1', [p.userId]),
        ),
      ).toEqual(['db_wallets_match_ledger']);
      let use = '';
      expect(
        await tampered(
          async (d) => {
            use = (
              await d.query(
                `INSERT INTO point_ledger (user_id, type, amount, balance_after, ref)
                 VALUES ($1, 'USE', $2, 0, $3) RETURNING id::text AS id`,
                [p.userId, -p.total, `reservation:${p.id}`],
              )
            ).rows[0].id;
          },
          () => db.query('DELETE FROM point_ledger WHERE id = $1', [use]),
        ),
      ).toEqual(['db_payments_in_ledger', 'db_wallets_match_ledger']);

      expect(await failing()).toEqual([]);
    });
  });
});
