/**
 * What a checkout run observes, shared by the scenario (which records it) and its audit (which
 * judges the server against it).
 */
import type { DrillProduct } from './catalog-setup.js';
import type { DrillUsers } from './users.js';

export interface PaidOrder {
  orderId: string;
  total: number;
}

export interface CheckoutObservations {
  users: DrillUsers;
  products: DrillProduct[];
  couponId: string;
  /** Per user: their userCouponId (if they claimed one) and whether an order used it. */
  userCoupon: (string | undefined)[];
  couponSpent: Uint8Array;
  attempts: Uint32Array;
  /** Points charged and acknowledged (200) per user, setup included. */
  charged: Float64Array;
  /** 1 when a charge's outcome is unknown (no answer even after the same-key retry). */
  chargeUnknown: Uint8Array;
  /** Orders answered 201, per user. */
  paid: Map<number, PaidOrder[]>;
  /** Order attempts whose outcome is unknown, per user. */
  orderUnknown: Uint32Array;
  /** COUPON_UNAVAILABLE answers for a coupon the drill had not spent (and no unknown outcome). */
  unexplainedCouponRefusals: number;
}
