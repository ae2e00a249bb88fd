/**
 * Prometheus metrics, one registry per app instance (tests build many apps in one process).
 * Names follow Prometheus conventions: base units (seconds), _total for counters.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { FrameRecorder } from './live/frames.js';

export class Metrics {
  readonly registry = new Registry();
  /** The current second's requests, for the live view's frames (src/modules/live). */
  readonly frames = new FrameRecorder();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  readonly couponIssue = new Counter({
    name: 'stampede_coupon_issue_total',
    help: 'Coupon issue attempts by coupon and outcome (issued, sold_out, duplicate, not_open, unavailable)',
    labelNames: ['coupon_id', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly commitBatchSize = new Histogram({
    name: 'stampede_group_commit_batch_size',
    help: 'Rows per group-commit transaction',
    labelNames: ['committer'] as const,
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
    registers: [this.registry],
  });

  readonly commitDuration = new Histogram({
    name: 'stampede_group_commit_duration_seconds',
    help: 'Duration of one group-commit transaction',
    labelNames: ['committer', 'ok'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });

  readonly gateErrors = new Counter({
    name: 'stampede_gate_errors_total',
    help: 'Gate adapter failures (the request fell back to the PostgreSQL-only path)',
    labelNames: ['gate', 'op'] as const,
    registers: [this.registry],
  });

  readonly gateFallbacks = new Counter({
    name: 'stampede_gate_fallback_total',
    help: 'Issue requests served by the PostgreSQL-only path, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly gateRebuilds = new Counter({
    name: 'stampede_gate_rebuilds_total',
    help: 'Gate states rebuilt from PostgreSQL',
    registers: [this.registry],
  });

  readonly breakerState = new Gauge({
    name: 'stampede_breaker_state',
    help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
    labelNames: ['breaker'] as const,
    registers: [this.registry],
  });

  readonly reconciled = new Counter({
    name: 'stampede_reconciler_reservations_total',
    help: 'Stale gate reservations settled by the reconciler, by result (released, confirmed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly orders = new Counter({
    name: 'stampede_orders_total',
    help: 'Order attempts by outcome (paid, out_of_stock, insufficient_points, coupon_unavailable, not_found, unavailable)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly seatHolds = new Counter({
    name: 'stampede_seat_holds_total',
    help: 'Seat hold attempts by outcome (held, seat_unavailable, hold_limit, unavailable) and by who answered (gate, commit)',
    labelNames: ['outcome', 'by'] as const,
    registers: [this.registry],
  });

  readonly seatPayments = new Counter({
    name: 'stampede_seat_payments_total',
    help: 'Reservation payments by outcome (paid, hold_expired, insufficient_points, already_paid, not_found)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly pointCharges = new Counter({
    name: 'stampede_point_charges_total',
    help: 'Point charges by outcome (charged, balance_limit)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly idempotentReplays = new Counter({
    name: 'stampede_idempotent_replays_total',
    help: 'Requests answered from a stored Idempotency-Key response, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly idempotencyRejects = new Counter({
    name: 'stampede_idempotency_rejects_total',
    help: 'Idempotency-Key requests refused, by reason (reused, in_progress)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly outboxLag = new Gauge({
    name: 'stampede_outbox_lag_seconds',
    help: 'Age of the oldest undelivered outbox event, by destination (webhook, local)',
    labelNames: ['destination'] as const,
    registers: [this.registry],
  });

  readonly outboxDeliveries = new Counter({
    name: 'stampede_outbox_deliveries_total',
    help: 'Outbox events delivered, by destination (webhook, local)',
    labelNames: ['destination'] as const,
    registers: [this.registry],
  });

  readonly outboxFailures = new Counter({
    name: 'stampede_outbox_failures_total',
    help: 'Failed outbox delivery attempts, by destination (webhook, local)',
    labelNames: ['destination'] as const,
    registers: [this.registry],
  });

  readonly cacheRequests = new Counter({
    name: 'stampede_cache_requests_total',
    help: 'Read-cache lookups by cache and result (hit, miss, error)',
    labelNames: ['cache', 'result'] as const,
    registers: [this.registry],
  });

  readonly rankingErrors = new Counter({
    name: 'stampede_ranking_errors_total',
    help: 'Best-seller store failures by operation (reads fell back to PostgreSQL)',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });

  readonly outboxYields = new Counter({
    name: 'stampede_outbox_yields_total',
    help: 'Relay passes skipped because the hot path was busy (bounded by OUTBOX_MAX_YIELD_MS)',
    labelNames: ['destination'] as const,
    registers: [this.registry],
  });

  readonly openStreams = new Gauge({
    name: 'stampede_open_streams',
    help: 'Long-lived responses (event streams) open right now',
    registers: [this.registry],
  });

  readonly waitingRoomJoins = new Counter({
    name: 'stampede_waiting_room_joins_total',
    help: 'Entries that joined a waiting room (durable)',
    registers: [this.registry],
  });

  readonly waitingRoomAdmitted = new Counter({
    name: 'stampede_waiting_room_admitted_total',
    help: 'Entries admitted from a waiting room, by room',
    labelNames: ['room'] as const,
    registers: [this.registry],
  });

  readonly waitingRoomDropped = new Counter({
    name: 'stampede_waiting_room_dropped_total',
    help: 'Waiting entries dropped for missing heartbeats, by room',
    labelNames: ['room'] as const,
    registers: [this.registry],
  });

  readonly waitingRoomWaiting = new Gauge({
    name: 'stampede_waiting_room_waiting',
    help: 'Entries waiting (pre-queue included), by room, as the admitter last saw them',
    labelNames: ['room'] as const,
    registers: [this.registry],
  });

  readonly waitingRoomActive = new Gauge({
    name: 'stampede_waiting_room_active',
    help: 'Admitted entries holding a live pass, by room, as the admitter last saw them',
    labelNames: ['room'] as const,
    registers: [this.registry],
  });

  readonly passRejections = new Counter({
    name: 'stampede_waiting_room_pass_rejections_total',
    help: 'Protected requests refused for their pass, by reason (missing, forged, other, expired, ended)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly chatConnections = new Gauge({
    name: 'stampede_chat_connections',
    help: 'Chat WebSocket connections open right now',
    registers: [this.registry],
  });

  readonly chatSubscriptions = new Gauge({
    name: 'stampede_chat_subscriptions',
    help: 'Chat room subscriptions of the open WebSocket connections',
    registers: [this.registry],
  });

  readonly chatMessagesIn = new Counter({
    name: 'stampede_chat_messages_in_total',
    help: 'Chat messages sent by clients (WebSocket or REST), by outcome (stored, resent, rate_limited, not_member, not_found, reused, unavailable)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly chatMessagesOut = new Counter({
    name: 'stampede_chat_messages_out_total',
    help: 'Chat message frames written to WebSocket subscribers (live and replayed)',
    labelNames: ['path'] as const,
    registers: [this.registry],
  });

  readonly chatFanoutSeconds = new Histogram({
    name: 'stampede_chat_fanout_seconds',
    help: 'From a chat batch published after its commit to its delivery to the local subscribers of a process',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly chatGapFills = new Counter({
    name: 'stampede_chat_gap_filled_messages_total',
    help: 'Chat messages a process read from PostgreSQL because their pub/sub copy was late or lost, by reason (gap, tail)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly chatSlowReaders = new Counter({
    name: 'stampede_chat_slow_readers_dropped_total',
    help: 'Chat WebSocket connections closed (4008) because their unread data passed CHAT_MAX_BUFFERED_BYTES',
    registers: [this.registry],
  });

  readonly chatDeadConnections = new Counter({
    name: 'stampede_chat_dead_connections_total',
    help: 'Chat WebSocket connections ended because they did not answer a ping',
    registers: [this.registry],
  });

  /** The group committer's onBatch hook for the committer called `name`. */
  commitObserver(name: string): (size: number, seconds: number, ok: boolean) => void {
    return (size, seconds, ok) => {
      this.commitBatchSize.observe({ committer: name }, size);
      this.commitDuration.observe({ committer: name, ok: String(ok) }, seconds);
    };
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
