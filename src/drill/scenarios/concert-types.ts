/**
 * What a concert run observes, shared by the scenario (which records it) and its audit (which
 * judges the server against it). Indexes of users are positions in `users`.
 */
import type { DrillUsers } from './users.js';
import type { RoomLimits } from './waiting-room-types.js';

export interface DrillSchedule {
  id: string;
  seatCount: number;
  /** Points per seat. */
  price: number;
}

/**
 * What became of a hold the drill was answered 201 for, as far as the drill knows:
 *   open            the run stopped before the user paid or left
 *   paid            pay answered 200
 *   pay-expired     pay answered 410 HOLD_EXPIRED
 *   pay-unknown     pay got no answer, even after the same-key retry (it may have been paid)
 *   pay-refused     pay answered 402 or 404: nothing was paid, the hold runs out
 *   cancelled       DELETE answered 204
 *   cancel-unknown  DELETE got no 204 (the hold may still be live, or released)
 *   walked          the user walked away: the hold runs out on its own
 */
export type HoldFate =
  | 'open'
  | 'paid'
  | 'pay-expired'
  | 'pay-unknown'
  | 'pay-refused'
  | 'cancelled'
  | 'cancel-unknown'
  | 'walked';

export interface DrillHold {
  reservationId: string;
  user: number;
  scheduleId: string;
  /** Ascending, as the 201 answered them. */
  seats: number[];
  total: number;
  /** ms since the epoch, from the 201. */
  expiresAt: number;
  fate: HoldFate;
}

export interface ConcertObservations {
  users: DrillUsers;
  /** A user who never joins: the audit's pass-less probe. */
  probe: { id: string; token: string };
  /** Points charged to every user at setup (acknowledged). */
  charge: number;
  roomId: string;
  limits: RoomLimits;
  concertId: string;
  schedules: DrillSchedule[];
  abandonShare: number;
  /** 1 once an iteration took this user (each user comes once). */
  taken: Uint8Array;
  joined: Uint8Array;
  /** 1 when the user's entry answered ADMITTED with a pass. */
  admitted: Uint8Array;
  /** 1 when the entry answered EXPIRED or DONE while the user still waited. */
  lost: Uint8Array;
  /** 1 while a hold of this user is unanswered; stays 1 when none came (it may have been made). */
  holdUnknown: Uint8Array;
  /** Every hold answered 201, in answer order. */
  holds: DrillHold[];
}
