/**
 * The decision part of a batch of orders, as a pure function over rows the transaction has already
 * locked (products, coupons, wallets). Orders are decided one after another in arrival order, each
 * against what the previous ones left, so a batch behaves exactly like its orders run one by one:
 * an order either takes all of its stock, its coupon and its points, or takes nothing.
 *
 * Checks, in order: every product exists (404 NOT_FOUND) → enough stock for every line
 * (409 OUT_OF_STOCK, naming the first product short) → the coupon is this user's, unused and not
 * expired (409 COUPON_UNAVAILABLE) → enough points for the total (402 INSUFFICIENT_POINTS).
 */

export interface OrderLine {
  productId: string;
  quantity: number;
}

export interface OrderDraft {
  userId: string;
  lines: OrderLine[];
  userCouponId: string | null;
}

export interface LockedProduct {
  id: string;
  name: string;
  price: number;
  stock: number;
}

export interface LockedCoupon {
  id: string;
  userId: string;
  status: 'AVAILABLE' | 'USED';
  expiresAt: Date | null;
  discountType: 'AMOUNT' | 'PERCENT';
  discountValue: number;
}

export interface PricedLine extends OrderLine {
  name: string;
  unitPrice: number;
  lineTotal: number;
}

export type Decision =
  | {
      ok: true;
      lines: PricedLine[];
      subtotal: number;
      discount: number;
      total: number;
      balanceAfter: number;
    }
  | {
      ok: false;
      code: 'NOT_FOUND' | 'OUT_OF_STOCK' | 'COUPON_UNAVAILABLE' | 'INSUFFICIENT_POINTS';
      detail: string;
    };

export type AcceptedDecision = Extract<Decision, { ok: true }>;

/** AMOUNT is capped at the subtotal; PERCENT is rounded down. Never more than the subtotal. */
export function discountFor(subtotal: number, type: 'AMOUNT' | 'PERCENT', value: number): number {
  const d = type === 'AMOUNT' ? value : Math.floor((subtotal * value) / 100);
  return Math.max(0, Math.min(subtotal, d));
}

export interface BatchState {
  products: Map<string, LockedProduct>;
  coupons: Map<string, LockedCoupon>;
  /** user id → balance; a user without a wallet has 0. */
  balances: Map<string, number>;
  nowMs: number;
}

/**
 * Decides every draft in order and mutates `state` (stock, coupon status, balances) for the ones
 * accepted. The caller writes exactly the accepted decisions.
 */
export function decideBatch(drafts: OrderDraft[], state: BatchState): Decision[] {
  return drafts.map((d) => decideOne(d, state));
}

function decideOne(draft: OrderDraft, state: BatchState): Decision {
  const lines: PricedLine[] = [];
  for (const line of draft.lines) {
    const p = state.products.get(line.productId);
    if (!p) return { ok: false, code: 'NOT_FOUND', detail: `no product ${line.productId}` };
    lines.push({ ...line, name: p.name, unitPrice: p.price, lineTotal: p.price * line.quantity });
  }
  for (const line of draft.lines) {
    const p = state.products.get(line.productId)!;
    if (p.stock < line.quantity) {
      return {
        ok: false,
        code: 'OUT_OF_STOCK',
        detail: `product ${p.id} (${p.name}) has ${p.stock} left; ${line.quantity} requested`,
      };
    }
  }
  const subtotal = lines.reduce((s, l) => s + l.lineTotal, 0);
  let discount = 0;
  let coupon: LockedCoupon | undefined;
  if (draft.userCouponId !== null) {
    coupon = state.coupons.get(draft.userCouponId);
    // Someone else's coupon is reported exactly like a coupon that does not exist: no leak.
    if (!coupon || coupon.userId !== draft.userId) {
      return {
        ok: false,
        code: 'COUPON_UNAVAILABLE',
        detail: `coupon ${draft.userCouponId} is not one of yours`,
      };
    }
    if (coupon.status !== 'AVAILABLE') {
      return {
        ok: false,
        code: 'COUPON_UNAVAILABLE',
        detail: `coupon ${draft.userCouponId} has already been used`,
      };
    }
    if (coupon.expiresAt && coupon.expiresAt.getTime() <= state.nowMs) {
      return { ok: false, code: 'COUPON_UNAVAILABLE', detail: `coupon ${draft.userCouponId} has expired` };
    }
    discount = discountFor(subtotal, coupon.discountType, coupon.discountValue);
  }
  const total = subtotal - discount;
  const balance = state.balances.get(draft.userId) ?? 0;
  if (balance < total) {
    return {
      ok: false,
      code: 'INSUFFICIENT_POINTS',
      detail: `the order costs ${total} points; the balance is ${balance}`,
    };
  }
  // Accepted: take everything.
  for (const line of draft.lines) state.products.get(line.productId)!.stock -= line.quantity;
  if (coupon) coupon.status = 'USED';
  state.balances.set(draft.userId, balance - total);
  return { ok: true, lines, subtotal, discount, total, balanceAfter: balance - total };
}
