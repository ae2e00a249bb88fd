/** Outbox events as the relay reads them and as the webhook receives them (JSON body). */
export type Topic = 'order.paid' | 'coupon.issued';

export interface OutboxEvent {
  /** The outbox row id: the event id, sent in the X-Event-Id header and used for de-duplication. */
  id: string;
  topic: Topic;
  userId: string;
  payload: Record<string, unknown>;
  createdAt: Date;
}

export interface OrderPaidPayload {
  orderId: string;
  userId: string;
  paidAt: string;
  total: number;
  items: { productId: string; quantity: number }[];
}
