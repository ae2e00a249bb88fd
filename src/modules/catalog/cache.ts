/**
 * The read-cache port in front of catalog reads. Entries live at most `ttlMs` (≤ 1 s for catalog
 * reads), so a served value is never older than that. It is a cache, not the truth: every failure
 * of an adapter surfaces as a rejection and the caller reads PostgreSQL instead.
 *
 * Adapters: `memory` (embedded mode, one process) and `redis` (cluster mode, shared by processes).
 */
export interface ReadCache {
  readonly kind: 'memory' | 'redis';
  /** The cached string, or null on a miss. */
  get(key: string): Promise<string | null>;
  /** Stores value for ttlMs milliseconds (≥ 1). */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  del(key: string): Promise<void>;
}
