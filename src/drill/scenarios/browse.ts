/**
 * browse: read-heavy catalog traffic — product list pages (sometimes the next page), product
 * details, best sellers — with a handful of orders in setup so best sellers are not empty.
 *   setup      P products (default 200, stock 1,000), 5 buyers × 3 orders
 *   iteration  50 % list (GET /api/v1/products?limit=20, half the time also the next page),
 *              35 % detail (GET /api/v1/products/:id, checked against what setup created),
 *              15 % best sellers (GET /api/v1/products/popular, checked sorted by soldQuantity)
 *   audit      catalog_listed (paging finds every product exactly once) · reads_changed_nothing
 *              (stock after the run = stock after setup) · details_matched · popular_sorted
 *   defaults   think time 0.5–2 s
 */

import { performance } from 'node:perf_hooks';
import { setTimeout as sleepMs } from 'node:timers/promises';
import { type AuditResult, check, verdictOf } from '../audit.js';
import { mapLimit } from '../concurrency.js';
import type { Registry } from '../metrics.js';
import { between, mulberry32 } from '../random.js';
import { asArray, asObject, int, optStr, str } from '../shape.js';
import type { VirtualUser } from '../vu.js';
import { chargeAll, createProducts, type DrillProduct } from './catalog-setup.js';
import type { AuditContext, Scenario, ScenarioContext } from './types.js';
import { createUsers } from './users.js';

const OK = { 200: true } as const;
const STOCK_LAG_MS = 1_100;

export function createBrowse(registry: Registry): Scenario {
  const listMetric = registry.define('browse_list_pages', 'counter');
  const detailMetric = registry.define('browse_details', 'counter');
  const popularMetric = registry.define('browse_best_sellers', 'counter');
  let products: DrillProduct[] = [];
  let byId = new Map<string, DrillProduct>();
  let afterSetupStock = new Map<string, number>();
  let detailMismatches = 0;
  let unsortedPopular = 0;

  return {
    name: 'browse',
    description: 'Read-heavy catalog traffic: list pages, product details, best sellers',
    defaultThresholds: ['http_req_failed: rate<0.01', 'http_req_duration: p(95)<300', 'checks: rate>0.99'],
    defaultThinkTime: { minMs: 500, maxMs: 2_000 },
    businessCounters: [
      { metric: 'browse_list_pages', label: 'pages', color: '#2563eb' },
      { metric: 'browse_details', label: 'details', color: '#0d9488' },
      { metric: 'browse_best_sellers', label: 'best sellers', color: '#f59e0b' },
    ],

    async setup(ctx: ScenarioContext) {
      const stamp = Date.now().toString(36);
      const rng = mulberry32(ctx.seed);
      const count = ctx.params.products ?? 200;
      ctx.log(`setup: ${count} products, 5 buyers × 3 orders for the best-seller list`);
      products = await createProducts(
        ctx.api,
        ctx.adminToken,
        count,
        ctx.params.stock ?? 1_000,
        `drill-browse-${stamp}`,
        rng,
        ctx.runTag,
      );
      byId = new Map(products.map((p) => [p.id, p]));
      const buyers = await createUsers(
        ctx.api,
        ctx.adminToken,
        5,
        `drill-browse-${stamp}`,
        ctx.log,
        ctx.runTag,
      );
      await chargeAll(ctx.api, buyers.tokens, 100_000, `drill-${stamp}-browse`);
      const sold = new Map<string, number>();
      for (const [b, token] of buyers.tokens.entries()) {
        for (let k = 0; k < 3; k++) {
          const p = products[between(rng, 0, Math.min(products.length, 10) - 1)];
          await ctx.api.must('POST', '/api/v1/orders', 201, {
            token,
            body: { items: [{ productId: p.id, quantity: 1 }] },
            headers: { 'idempotency-key': `drill-${stamp}-browse-${b}-${k}` },
          });
          sold.set(p.id, (sold.get(p.id) ?? 0) + 1);
        }
      }
      afterSetupStock = new Map(products.map((p) => [p.id, p.stock - (sold.get(p.id) ?? 0)]));
    },

    async iteration(vu: VirtualUser) {
      const r = vu.rng();
      if (r < 0.5) {
        const res = await vu.request({
          method: 'GET',
          path: '/api/v1/products?limit=20',
          name: 'list',
          expect: OK,
        });
        vu.check(res.status === 200, 'list answered 200');
        listMetric.add(1);
        if (res.status !== 200 || vu.rng() < 0.5) return;
        let next: string | undefined;
        try {
          next = optStr(asObject(res.json, 'products'), 'nextCursor', 'products');
        } catch {
          next = undefined;
        }
        if (!next) return;
        const more = await vu.request({
          method: 'GET',
          path: `/api/v1/products?limit=20&cursor=${encodeURIComponent(next)}`,
          name: 'list',
          expect: OK,
        });
        vu.check(more.status === 200, 'list answered 200');
        listMetric.add(1);
      } else if (r < 0.85) {
        const p = products[between(vu.rng, 0, products.length - 1)];
        const res = await vu.request({
          method: 'GET',
          path: `/api/v1/products/${p.id}`,
          name: 'detail',
          expect: OK,
        });
        detailMetric.add(1);
        let same = false;
        try {
          const b = asObject(res.json, 'product');
          same =
            str(b, 'id', 'product') === p.id &&
            str(b, 'name', 'product') === p.name &&
            int(b, 'price', 'product') === p.price;
        } catch {
          same = false;
        }
        if (res.status === 200 && !same) detailMismatches++;
        vu.check(res.status === 200 && same, 'detail matches the product created');
      } else {
        const res = await vu.request({
          method: 'GET',
          path: '/api/v1/products/popular?days=1&limit=5',
          name: 'popular',
          expect: OK,
        });
        popularMetric.add(1);
        let sorted = false;
        try {
          const q = asArray(asObject(res.json, 'popular').items, 'popular.items').map((i) =>
            int(asObject(i, 'popular item'), 'soldQuantity', 'popular item'),
          );
          sorted = q.every((v, i) => i === 0 || q[i - 1] >= v);
        } catch {
          sorted = false;
        }
        if (res.status === 200 && !sorted) unsortedPopular++;
        vu.check(res.status === 200 && sorted, 'best sellers sorted by soldQuantity');
      }
    },

    async audit(ctx: AuditContext): Promise<AuditResult> {
      const wait = STOCK_LAG_MS - (performance.now() - ctx.loadEndedAt);
      if (wait > 0) await sleepMs(wait);
      ctx.log('audit: paging through the catalog and re-reading every product');
      const seen = new Map<string, number>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const q = cursor ? `?limit=100&cursor=${encodeURIComponent(cursor)}` : '?limit=100';
        const page = asObject(await ctx.api.must('GET', `/api/v1/products${q}`, 200), 'products');
        for (const it of asArray(page.items, 'products.items')) {
          const id = str(asObject(it, 'product'), 'id', 'product');
          if (byId.has(id)) seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        cursor = optStr(page, 'nextCursor', 'products');
        pages++;
      } while (cursor && pages < 100_000);
      const missing = products.filter((p) => !seen.has(p.id)).length;
      const twice = [...seen.values()].filter((n) => n > 1).length;
      const stocks = await mapLimit(products, 16, async (p) =>
        int(
          asObject(await ctx.api.must('GET', `/api/v1/products/${p.id}`, 200), 'product'),
          'stock',
          'product',
        ),
      );
      const changed = products.filter((p, i) => stocks[i] !== afterSetupStock.get(p.id)).length;
      const checks = [
        check(
          'catalog_listed',
          missing === 0 && twice === 0,
          `${products.length} products, each once`,
          `${missing} missing, ${twice} listed twice`,
          'cursor paging neither skips nor repeats',
        ),
        check(
          'reads_changed_nothing',
          changed === 0,
          0,
          changed,
          'stock after the run equals stock after setup: reads have no effects',
        ),
        check(
          'details_matched',
          detailMismatches === 0,
          0,
          detailMismatches,
          'product details answered during the run matched what setup created',
        ),
        check(
          'popular_sorted',
          unsortedPopular === 0,
          0,
          unsortedPopular,
          'best-seller answers sorted by soldQuantity, descending',
        ),
      ];
      return {
        verdict: verdictOf(checks),
        checks,
        facts: { products: products.length, listPages: pages },
        notes: [],
      };
    },

    describeSetup(): Record<string, number | string> {
      return { products: products.length };
    },
  };
}
