/**
 * One notification per delivered event for the event's user. Delivery is at least once, so
 * `record` is idempotent: a redelivered event adds nothing.
 */
import type { OutboxEvent } from '../outbox/events.js';
import type { NotificationRow, NotificationsRepository } from './repository.js';

function describe(e: OutboxEvent): { kind: string; message: string } {
  const p = e.payload;
  if (e.topic === 'order.paid') {
    return { kind: 'ORDER_PAID', message: `Order ${String(p.orderId)} is paid: ${String(p.total)} points.` };
  }
  if (e.topic === 'reservation.held') {
    const seats = Array.isArray(p.seats) ? p.seats.join(', ') : '';
    return {
      kind: 'RESERVATION_HELD',
      message: `Seats ${seats} are held for you until ${String(p.expiresAt)} (reservation ${String(p.reservationId)}).`,
    };
  }
  if (e.topic === 'reservation.paid') {
    return {
      kind: 'RESERVATION_PAID',
      message: `Reservation ${String(p.reservationId)} is paid: ${String(p.total)} points.`,
    };
  }
  if (e.topic === 'reservation.expired') {
    return {
      kind: 'RESERVATION_EXPIRED',
      message: `The hold of reservation ${String(p.reservationId)} has expired; its seats are free again.`,
    };
  }
  return {
    kind: 'COUPON_ISSUED',
    message: `Coupon ${String(p.couponId)} is yours (user coupon ${String(p.userCouponId)}).`,
  };
}

export class NotificationsService {
  constructor(private readonly repo: NotificationsRepository) {}

  /** Records one notification per event; returns how many were new (the rest were redeliveries). */
  record(events: OutboxEvent[]): Promise<number> {
    return this.repo.insert(events.map((e) => ({ eventId: e.id, userId: e.userId, ...describe(e) })));
  }

  /** Newest first, ids below `beforeId`; limit+1 rows (the extra one tells there is a next page). */
  listForUser(userId: string, beforeId: string | null, limit: number): Promise<NotificationRow[]> {
    return this.repo.listForUser(userId, beforeId, limit);
  }
}
