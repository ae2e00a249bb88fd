/**
 * The error model: every failure a client can see is an AppError with a stable machine-readable
 * code, an HTTP status and a title. The error handler turns them into RFC 9457 problem+json.
 * docs/errors.md lists every code; keep the two in step.
 */

export const ERRORS = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  MALFORMED_REQUEST: { status: 400, title: 'The request is not well-formed HTTP' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  INSUFFICIENT_POINTS: { status: 402, title: 'Not enough points' },
  FORBIDDEN: { status: 403, title: 'Not allowed for this actor' },
  NOT_OPEN: { status: 403, title: 'The drop is not open' },
  NOT_ADMITTED: { status: 403, title: 'No valid waiting-room pass' },
  PASS_EXPIRED: { status: 403, title: 'The waiting-room pass has expired' },
  NOT_MEMBER: { status: 403, title: 'Not a member of this chat room' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request was not received in time' },
  ALREADY_ISSUED: { status: 409, title: 'Already issued to this user' },
  BALANCE_LIMIT: { status: 409, title: 'Balance limit exceeded' },
  OUT_OF_STOCK: { status: 409, title: 'Out of stock' },
  COUPON_UNAVAILABLE: { status: 409, title: 'Coupon unavailable' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is in progress' },
  SEAT_UNAVAILABLE: { status: 409, title: 'Seat unavailable' },
  HOLD_LIMIT: { status: 409, title: 'Too many held seats' },
  ALREADY_PAID: { status: 409, title: 'Already paid' },
  SOLD_OUT: { status: 410, title: 'Sold out' },
  HOLD_EXPIRED: { status: 410, title: 'The hold has expired' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large' },
  URI_TOO_LONG: { status: 414, title: 'Request target too long' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  EXPECTATION_FAILED: { status: 417, title: 'Expectation not supported' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency-Key reused with a different request' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  INTERNAL: { status: 500, title: 'Internal error' },
  UNAVAILABLE: { status: 503, title: 'Temporarily unavailable' },
  OVERLOADED: { status: 503, title: 'Overloaded' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  readonly title: string;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    // Business answers (SOLD_OUT, ALREADY_ISSUED...) are most of a spike's responses and never
    // logged with a stack: skip capturing one (it was ~7% of the CPU of a sold-out spike).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(detail);
    Error.stackTraceLimit = limit;
    this.status = ERRORS[code].status;
    this.title = ERRORS[code].title;
  }
}

export const appError = (code: ErrorCode, detail: string, headers?: Record<string, string>) =>
  new AppError(code, detail, headers);

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
}

export function problemOf(err: AppError): Problem {
  return {
    type: `https://stampede.dev/problems/${err.code.toLowerCase().replaceAll('_', '-')}`,
    title: err.title,
    status: err.status,
    detail: err.detail,
    code: err.code,
  };
}
