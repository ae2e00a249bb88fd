/**
 * Catalog reads behind a read cache. Stock shown by reads LAGS BY AT MOST ONE SECOND: an entry is
 * stored with a time-to-live of 1 s minus the time since the database read began, so nothing served
 * is older than 1 s (docs/commerce.md explains why not exact). Orders never read this cache: they
 * read and lock the rows in PostgreSQL.
 *
 * A cache failure never fails a read: the error is counted, the read goes to PostgreSQL, and after
 * a few consecutive failures a breaker skips the cache for two seconds so an outage costs no latency.
 */
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import type { FastifyBaseLogger } from 'fastify';
import type { Metrics } from '../../infra/metrics.js';
import type { Keys } from '../../infra/redis/keys.js';
import type { ReadCache } from './cache.js';
import type { CatalogRepository, NewProduct, ProductRow } from './repository.js';

/** Maximum age of a served catalog read, in ms. */
export const CATALOG_MAX_LAG_MS = 1_000;

export class CatalogService {
  private readonly breaker = circuitBreaker(handleAll, {
    halfOpenAfter: 2_000,
    breaker: new ConsecutiveBreaker(3),
  });

  constructor(
    private readonly repo: CatalogRepository,
    private readonly cache: ReadCache,
    private readonly keys: Keys,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {
    this.breaker.onStateChange((s) => {
      metrics.breakerState.set(
        { breaker: 'catalog-cache' },
        s === CircuitState.Closed ? 0 : s === CircuitState.HalfOpen ? 1 : 2,
      );
      log.warn({ breaker: 'catalog-cache', state: CircuitState[s] }, 'catalog cache breaker changed state');
    });
  }

  get cacheKind() {
    return this.cache.kind;
  }

  /** Degraded while the cache breaker is open (reads go to PostgreSQL: slower, same answers). */
  health(): { status: 'up' | 'degraded'; detail: string } {
    const open = this.breaker.state === CircuitState.Open || this.breaker.state === CircuitState.Isolated;
    return {
      status: open ? 'degraded' : 'up',
      detail: `${this.cache.kind} read cache, breaker ${open ? 'open (reads from PostgreSQL)' : 'closed'}`,
    };
  }

  create(p: NewProduct): Promise<ProductRow> {
    return this.repo.create(p);
  }

  createMany(list: NewProduct[]): Promise<string[]> {
    return this.repo.createMany(list);
  }

  /** The product, at most 1 s old; null when it does not exist (misses are not cached). */
  get(productId: string): Promise<ProductRow | null> {
    return this.cached(this.keys.productCache(productId), () => this.repo.get(productId));
  }

  /** Several products (for best-seller names), each through the cache. */
  async getMany(ids: string[]): Promise<Map<string, ProductRow>> {
    const rows = await Promise.all(ids.map((id) => this.get(id)));
    const out = new Map<string, ProductRow>();
    for (const r of rows) if (r) out.set(r.id, r);
    return out;
  }

  /** limit+1 products after `afterId` (the route turns them into a page), at most 1 s old. */
  page(afterId: string | null, limit: number): Promise<ProductRow[]> {
    return this.cached(this.keys.productPageCache(afterId ?? '0', limit), () =>
      this.repo.page(afterId, limit),
    ).then((rows) => rows ?? []);
  }

  private async cached<T>(key: string, load: () => Promise<T | null>): Promise<T | null> {
    try {
      const hit = await this.breaker.execute(() => this.cache.get(key));
      if (hit !== null) {
        this.metrics.cacheRequests.inc({ cache: 'catalog', result: 'hit' });
        return JSON.parse(hit) as T;
      }
      this.metrics.cacheRequests.inc({ cache: 'catalog', result: 'miss' });
    } catch (err) {
      this.metrics.cacheRequests.inc({ cache: 'catalog', result: 'error' });
      this.log.debug({ err }, 'catalog cache read failed; reading PostgreSQL');
    }
    const readStarted = Date.now();
    const value = await load();
    const ttl = CATALOG_MAX_LAG_MS - (Date.now() - readStarted);
    if (value !== null && ttl >= 1) {
      this.breaker
        .execute(() => this.cache.set(key, JSON.stringify(value), ttl))
        .catch(() => {
          this.metrics.cacheRequests.inc({ cache: 'catalog', result: 'error' });
        });
    }
    return value;
  }
}
