/**
 * Setup helpers shared by checkout and browse: products through the admin bulk endpoint, points
 * charged with an Idempotency-Key (a retried charge after a lost answer cannot double-charge).
 */
import type { ApiClient } from '../api-client.js';
import { mapLimit } from '../concurrency.js';
import { between, type Rng } from '../random.js';
import { asArray, asObject, ShapeError, str } from '../shape.js';

export interface DrillProduct {
  id: string;
  name: string;
  price: number;
  stock: number;
}

export async function createProducts(
  api: ApiClient,
  adminToken: string,
  count: number,
  stock: number,
  prefix: string,
  rng: Rng,
  runTag?: string,
): Promise<DrillProduct[]> {
  const out: DrillProduct[] = [];
  while (out.length < count) {
    const batch = Array.from({ length: Math.min(10_000, count - out.length) }, (_, i) => ({
      name: `${prefix}-${out.length + i + 1}`,
      price: between(rng, 5, 30) * 100,
      stock,
      description: 'created by stampede drill',
    }));
    const json = await api.must('POST', '/api/v1/admin/products/bulk', 201, {
      token: adminToken,
      body: { products: batch, ...(runTag ? { runTag } : {}) },
    });
    const ids = asArray(asObject(json, 'bulk products').ids, 'bulk products.ids');
    if (ids.length !== batch.length)
      throw new Error(`bulk products returned ${ids.length} ids for ${batch.length} products`);
    ids.forEach((id, i) => {
      if (typeof id !== 'string' && typeof id !== 'number')
        throw new ShapeError('bulk products.ids: expected ids');
      out.push({ id: String(id), name: batch[i].name, price: batch[i].price, stock });
    });
  }
  return out;
}

/** Charges `amount` points to each user (concurrently); returns nothing or throws on refusal. */
export async function chargeAll(
  api: ApiClient,
  tokens: readonly string[],
  amount: number,
  keyPrefix: string,
): Promise<void> {
  await mapLimit(tokens, 32, async (token, i) => {
    await api.must('POST', '/api/v1/me/points/charge', 200, {
      token,
      body: { amount },
      headers: { 'idempotency-key': `${keyPrefix}-${i}` },
    });
  });
}

/** Each user claims the coupon once; returns the userCouponId per user (undefined if refused). */
export async function claimCoupon(
  api: ApiClient,
  tokens: readonly string[],
  couponId: string,
): Promise<(string | undefined)[]> {
  return mapLimit(tokens, 32, async (token) => {
    const res = await api.call('POST', `/api/v1/coupons/${couponId}/issue`, { token });
    if (res.status !== 201) return undefined;
    return str(asObject(res.json, 'issue'), 'userCouponId', 'issue');
  });
}
