import pg from 'pg';
import type { Breaker } from '../breaker.js';

// int8 (bigint ids, counts) come back as strings by default; ids are strings in the API anyway,
// and counts we read fit in a double, so callers convert where they need numbers.
export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * The process's pool. With a breaker, every connection taken from it (pool.query takes one too)
 * goes through the circuit: PostgreSQL refusing or dropping connections opens it, and then every
 * caller fails at once with DependencyUnavailable (→ 503 UNAVAILABLE) instead of each waiting out
 * a connection timeout.
 */
export function createPool(connectionString: string, max: number, breaker?: Breaker): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    // A statement that takes this long is stuck; fail it so the gate reservation is given back.
    statement_timeout: 10_000,
    application_name: 'stampede',
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  if (breaker) guard(pool, breaker);
  return pool;
}

/**
 * Does this error say PostgreSQL cannot be reached or is going away (rather than that a statement
 * failed)? Refused, reset or timed-out connection attempts, a connection lost mid-way, SQLSTATE
 * class 08 (connection exception), 57P01–57P03 (shutting down, cannot connect now) and 53300 (too
 * many connections). Waiting for a busy pool's free client is not: that is load, not an outage.
 */
export function isPostgresUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (/^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EPIPE|EAI_AGAIN)$/.test(code))
      return true;
    if (/^(08...|57P0[123]|53300)$/.test(code)) return true;
  }
  return /^Connection terminated/.test(err.message);
}

/** Routes the pool's connect() (both its promise and callback forms) through the breaker. */
function guard(pool: pg.Pool, breaker: Breaker): void {
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  type Callback = (err: Error | undefined, client?: pg.PoolClient, done?: pg.PoolClient['release']) => void;
  const guarded = (cb?: Callback) => {
    const taken = breaker.execute(() => connect());
    if (!cb) return taken;
    taken.then(
      (client) => cb(undefined, client, client.release.bind(client)),
      (err: Error) => cb(err),
    );
  };
  pool.connect = guarded as typeof pool.connect;
}

/** Runs fn inside a transaction; rolls back on any throw. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
