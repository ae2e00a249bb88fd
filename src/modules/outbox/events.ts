/** Outbox events as the relay reads them and as the webhook receives them (JSON body). */
export type Topic =
  | 'order.paid'
  | 'coupon.issued'
  | 'reservation.held'
  | 'reservation.paid'
  | 'reservation.expired';

export interface OutboxEvent {
  /** The outbox row id: the event id, sent in the X-Event-Id header and used for de-duplication. */
  id: string;
  topic: Topic;
  userId: string;
  payload: Record<string, unknown>;
  createdAt: Date;
  /** W3C traceparent of the request that wrote the event (tracing on), sent with its delivery. */
  traceparent: string | null;
}

export interface OrderPaidPayload {
  orderId: string;
  userId: string;
  paidAt: string;
  total: number;
  items: { productId: string; quantity: number }[];
}
