/**
 * The coupon benchmark's audit, against PostgreSQL once the load stopped: every 201 seen is a row
 * (acknowledged = durable); every row is a 201 seen or a request still in flight when the load
 * tool stopped (it drops those answers); no user answered 201 twice; issued_count = rows ≤ quantity.
 */
import {
  readCouponFacts,
  readCouponHolders,
  settledCouponRows,
  withDatabase,
} from '../../src/drill/audit-queries.js';
import { fmt } from './format.js';

export interface CouponRunAudit {
  ok: boolean;
  rows: number;
  count201: number;
  /** Rows of users whose request was in flight at the stop. */
  inflightCommitted: number;
  /** Answered 201 but no row. */
  missing: number;
  /** Rows of users never answered 201 and not in flight. */
  unexplained: number;
  /** 201 answers beyond the first for one user. */
  twice: number;
  text: string;
}

export interface CouponRunSeen {
  /** User ids answered 201, once per answer. */
  ok201: readonly string[];
  /** User ids whose request was unanswered when the load stopped. */
  inflightUsers: readonly string[];
  /** 201 answers the load tool counted. */
  count201: number;
}

export async function auditCouponRun(
  databaseUrl: string,
  couponId: string,
  seen: CouponRunSeen,
  quantity: number,
): Promise<CouponRunAudit> {
  return withDatabase(
    databaseUrl,
    async (db) => {
      await settledCouponRows(db, couponId);
      const holders = await readCouponHolders(db, couponId);
      const facts = await readCouponFacts(db, couponId);
      const held = new Set(holders);
      const acked = new Set(seen.ok201);
      const inflight = new Set(seen.inflightUsers);
      const missing = seen.ok201.filter((u) => !held.has(u)).length;
      const extra = [...held].filter((u) => !acked.has(u));
      const unexplained = extra.filter((u) => !inflight.has(u)).length;
      const twice = seen.ok201.length - acked.size;
      const ok =
        missing === 0 &&
        unexplained === 0 &&
        twice === 0 &&
        seen.ok201.length === seen.count201 &&
        facts.issuedCount === held.size &&
        facts.duplicatedUsers === 0 &&
        held.size <= quantity;
      const text =
        `rows ${fmt(held.size)} = 201s counted ${fmt(seen.count201)}` +
        (extra.length ? ` + ${extra.length} committed for requests in flight when the load stopped` : '') +
        `; acked-but-missing ${missing}, unexplained rows ${unexplained}, double 201s ${twice}, ` +
        `issued_count ${fmt(facts.issuedCount)}, quantity ${fmt(quantity)} → ${ok ? 'OK' : 'FAILED'}`;
      return {
        ok,
        rows: held.size,
        count201: seen.count201,
        inflightCommitted: extra.length,
        missing,
        unexplained,
        twice,
        text,
      };
    },
    'stampede-bench-audit',
  );
}
