/**
 * The drill's exit codes and the errors that map onto them. Precedence when several apply:
 * audit failed (98) > generator saturated (97) > thresholds failed (99) > success (0).
 */

export const EXIT = {
  OK: 0,
  /** The drill could not run: target unreachable, setup refused, embedded server did not start. */
  RUN_FAILED: 1,
  /** Bad command line (unknown flag, bad duration, invalid threshold expression). */
  USAGE: 2,
  /** The load generator was saturated: latency figures describe the drill, not the server. */
  GENERATOR_SATURATED: 97,
  /** The post-run audit found the data wrong (oversell, duplicate, lost acknowledged write...). */
  AUDIT_FAILED: 98,
  /** At least one threshold failed (same code as k6). */
  THRESHOLDS_FAILED: 99,
  /** Interrupted twice (Ctrl-C twice). */
  INTERRUPTED: 130,
} as const;

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class DrillUsageError extends Error {
  override name = 'DrillUsageError';
}

/** The run could not proceed (target, setup): exit code 1. */
export class DrillRunError extends Error {
  override name = 'DrillRunError';
}

/**
 * Where a stampede server's admin token is, for messages about a missing or refused token: a
 * server started without ADMIN_TOKEN generates one in DATA_DIR/admin-token (DATA_DIR defaults to
 * ./.data in the server's working directory).
 */
export const ADMIN_TOKEN_HINT =
  'a server started without ADMIN_TOKEN generated one and keeps it in <DATA_DIR>/admin-token ' +
  '(DATA_DIR defaults to ./.data where it was started): --admin-token "$(cat .data/admin-token)"';

/** An admin endpoint of the target answered 401 or 403 to the drill's admin token. */
export class AdminTokenRefusedError extends DrillRunError {
  override name = 'AdminTokenRefusedError';
  constructor(
    /** `POST /api/v1/admin/users/bulk answered 401 UNAUTHENTICATED` */
    readonly answer: string,
  ) {
    super(`the target refused the admin token (${answer})`);
  }
}
