/**
 * Placing orders. Validation → (Idempotency-Key handling) → the order joins the next group commit,
 * where one PostgreSQL transaction decides and writes the whole batch (repository.ts). A 201 is sent
 * only after that transaction committed; a batch that could not commit took nothing from anyone and
 * answers 503 UNAVAILABLE with Retry-After.
 */
import type { FastifyBaseLogger } from 'fastify';
import { appError } from '../../http/errors.js';
import { isId } from '../../http/schemas.js';
import type { GroupCommitter } from '../../infra/group-committer.js';
import type { Metrics } from '../../infra/metrics.js';
import type { Answer, EffectResult, IdempotencyService } from '../idempotency/service.js';
import type { OrderLine } from './allocate.js';
import type { OrdersRepository, OrderView, PlaceRequest, PlaceResult } from './repository.js';

export const ORDERS_ROUTE = '/api/v1/orders';

export interface NewOrder {
  items: OrderLine[];
  userCouponId?: string;
}

export class OrdersService {
  constructor(
    private readonly repo: OrdersRepository,
    private readonly committer: GroupCommitter<PlaceRequest, PlaceResult>,
    private readonly idempotency: IdempotencyService,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** 201 with the paid order (stored for the key, when one is given), or an AppError. */
  async place(
    userId: string,
    body: NewOrder,
    idem: { key: string; requestHash: string } | null,
  ): Promise<Answer> {
    const seen = new Set<string>();
    for (const [i, line] of body.items.entries()) {
      if (seen.has(line.productId)) {
        throw appError(
          'VALIDATION_FAILED',
          `body.items.${i}.productId repeats product ${line.productId}; send each product once`,
        );
      }
      seen.add(line.productId);
    }
    const bad = body.items.find((l) => !isId(l.productId));
    if (bad) throw this.fail('not_found', appError('NOT_FOUND', `no product ${bad.productId}`));
    if (body.userCouponId !== undefined && !isId(body.userCouponId)) {
      throw this.fail(
        'coupon_unavailable',
        appError('COUPON_UNAVAILABLE', `coupon ${body.userCouponId} is not one of yours`),
      );
    }
    const draft = { userId, lines: body.items, userCouponId: body.userCouponId ?? null };

    if (!idem) {
      const r = await this.submit({ draft, idem: null });
      return { status: 201, body: this.paid(r), replayed: false };
    }
    return this.idempotency.run({ userId, ...idem, route: ORDERS_ROUTE }, async (): Promise<EffectResult> => {
      const r = await this.submit({ draft, idem: { userId, ...idem } });
      if (r.kind === 'TAKEN') return { kind: 'taken', record: r.record };
      return { kind: 'done', response: { status: 201, body: this.paid(r) } };
    });
  }

  private async submit(req: PlaceRequest): Promise<PlaceResult> {
    try {
      return await this.committer.submit(req);
    } catch (err) {
      this.metrics.orders.inc({ outcome: 'unavailable' });
      this.log.warn({ err }, 'order batch could not be committed; nothing was taken');
      throw appError('UNAVAILABLE', 'the order could not be made durable; nothing was taken, try again', {
        'retry-after': '1',
      });
    }
  }

  /** The order of a PAID result; every other result becomes its AppError. */
  private paid(r: PlaceResult): OrderView {
    switch (r.kind) {
      case 'PAID':
        this.metrics.orders.inc({ outcome: 'paid' });
        return r.order;
      case 'REJECTED':
        throw this.fail(r.code.toLowerCase(), appError(r.code, r.detail));
      case 'BUSY':
      case 'TAKEN':
        throw appError(
          'IDEMPOTENCY_IN_PROGRESS',
          'a request with this Idempotency-Key is still running; retry shortly',
          {
            'retry-after': '1',
          },
        );
    }
  }

  private fail(outcome: string, err: Error): Error {
    this.metrics.orders.inc({ outcome });
    return err;
  }

  get(orderId: string, userId: string): Promise<OrderView | null> {
    return this.repo.get(orderId, userId);
  }

  list(userId: string, beforeId: string | null, limit: number) {
    return this.repo.listForUser(userId, beforeId, limit);
  }
}
