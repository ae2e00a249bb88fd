import type { ReadCache } from './cache.js';

const MAX_ENTRIES = 100_000;

/** In-process cache for embedded mode: a Map with per-entry expiry, cleared when it grows too big. */
export class MemoryReadCache implements ReadCache {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { value: string; until: number }>();

  async get(key: string): Promise<string | null> {
    const e = this.entries.get(key);
    if (!e) return null;
    if (e.until <= Date.now()) {
      this.entries.delete(key);
      return null;
    }
    return e.value;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { value, until: Date.now() + ttlMs });
  }

  async del(key: string): Promise<void> {
    this.entries.delete(key);
  }
}
