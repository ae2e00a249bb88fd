/**
 * The post-run audit's vocabulary. A check compares what must be true (expected) with what the
 * server holds (actual), read from outside through the API or straight from PostgreSQL. The
 * verdict is PASS only if every check passed; a run whose audit fails exits with code 98.
 */

export interface AuditCheck {
  /** Stable snake_case name (tests and dashboards key on it). */
  name: string;
  ok: boolean;
  expected: string;
  actual: string;
  /** One sentence on what the check means and, when it fails, what was found. */
  detail: string;
  source: 'api' | 'database';
}

export interface AuditResult {
  verdict: 'PASS' | 'FAIL';
  checks: AuditCheck[];
  /** The numbers the checks were computed from (holders, remaining, ...). */
  facts: Record<string, number | string | boolean>;
  /** What was not checked, and why. */
  notes: string[];
}

export function check(
  name: string,
  ok: boolean,
  expected: string | number,
  actual: string | number,
  detail: string,
  source: AuditCheck['source'] = 'api',
): AuditCheck {
  return { name, ok, expected: String(expected), actual: String(actual), detail, source };
}

export function verdictOf(checks: readonly AuditCheck[]): 'PASS' | 'FAIL' {
  return checks.length > 0 && checks.every((c) => c.ok) ? 'PASS' : 'FAIL';
}

const NOT_AUDITED = 'PostgreSQL not audited (no --database-url; automatic only in embedded mode).';

/**
 * The PostgreSQL half of an audit: when the drill has the target's database, `audit(url)` reads and
 * judges (pushing its checks); a database it could not read is the failed check `db_readable`, no
 * database at all a note (`skipped`, or the default sentence).
 */
export async function auditDatabase(
  databaseUrl: string | undefined,
  out: { checks: AuditCheck[]; notes: string[] },
  audit: (url: string) => Promise<void>,
  skipped = NOT_AUDITED,
): Promise<void> {
  if (!databaseUrl) {
    out.notes.push(skipped);
    return;
  }
  try {
    await audit(databaseUrl);
  } catch (err) {
    out.checks.push(
      check(
        'db_readable',
        false,
        'readable',
        'error',
        `could not audit PostgreSQL: ${(err as Error).message}`,
        'database',
      ),
    );
  }
}
