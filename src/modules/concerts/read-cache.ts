/**
 * The sale's read views as served (seat maps by schedule, schedules with their available seats by
 * concert): each is read from PostgreSQL at most once per TTL_MS per process (one read in flight
 * per key, shared by everyone asking meanwhile), so a view is at most TTL_MS + one read old —
 * within the contract's "may lag by up to a second". The hold decides, never these views.
 */
import { createHash } from 'node:crypto';

const TTL_MS = 500;
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  value: T | null;
  at: number;
}

export class ReadCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly loading = new Map<string, Promise<T | null>>();

  constructor(private readonly load: (key: string) => Promise<T | null>) {}

  /** A strong ETag of a served body: equal bodies, equal tags. */
  static etagOf(items: unknown): string {
    return `"${createHash('sha256').update(JSON.stringify(items)).digest('base64url').slice(0, 27)}"`;
  }

  async get(key: string): Promise<T | null> {
    const hit = this.entries.get(key);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.value;
    let p = this.loading.get(key);
    if (!p) {
      const startedAt = Date.now();
      p = this.load(key)
        .then((value) => {
          if (this.entries.size > MAX_ENTRIES) this.entries.clear();
          this.entries.set(key, { value, at: startedAt });
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, p);
    }
    return p;
  }
}
