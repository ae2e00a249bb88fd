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
