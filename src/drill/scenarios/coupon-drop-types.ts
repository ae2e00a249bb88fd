/**
 * What a coupon-drop run observes, shared by the scenario (which records it) and its audit (which
 * judges the server against it).
 */
import type { DrillUsers } from './users.js';

/** What the drill saw per user; indexes are user positions in `users`. */
export interface DropObservations {
  users: DrillUsers;
  couponId: string;
  quantity: number;
  attempts: Uint32Array;
  /** Number of 201 answers per user. */
  issued: Uint16Array;
  /** 1 when the user got at least one definite answer (201, 409 ALREADY_ISSUED, 410 SOLD_OUT). */
  definite: Uint8Array;
  /** 1 when some attempt ended without knowing whether it issued (timeout, network, 5xx ≠ 503). */
  ambiguous: Uint8Array;
  /** userCouponIds from 201 answers, per user. */
  acked: Map<number, string[]>;
  sold410: number;
}
