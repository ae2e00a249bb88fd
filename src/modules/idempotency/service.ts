/**
 * Idempotency-Key semantics shared by every endpoint that takes the header (docs/api.md):
 *  - same key + same request → the stored response (same status and body), the effect happened once;
 *  - same key + different request → 422 IDEMPOTENCY_KEY_REUSED;
 *  - a request arriving while the first with its key still runs waits for it (up to `waitMs`), then
 *    answers as above, or gets 409 IDEMPOTENCY_IN_PROGRESS with Retry-After.
 * Keys are per user. Only successful responses are stored (in the effect's own transaction, see the
 * repository): a failed request took no effect, so its retry simply runs again.
 *
 * Waiting is done in-process (a map of running keys); across processes the primary key of
 * idempotency_keys makes the second transaction wait for the first, which gives the same answer.
 */
import { createHash } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { appError } from '../../http/errors.js';
import type { Metrics } from '../../infra/metrics.js';
import { type IdempotencyRepository, type KeyRecord, refId, type StoredResponse } from './repository.js';

export interface IdempotentRequest {
  userId: string;
  key: string;
  requestHash: string;
  /** Route pattern, for metrics. */
  route: string;
}

/** What an effect reports: it ran (and stored its response), or another request owns the key. */
export type EffectResult = { kind: 'done'; response: StoredResponse } | { kind: 'taken'; record: KeyRecord };

export interface Answer extends StoredResponse {
  replayed: boolean;
}

/** Visible ASCII, 1..255 characters (the header's schema says the same). */
export const IDEMPOTENCY_KEY_PATTERN = '^[\\x21-\\x7E]{1,255}$';

/** The optional `Idempotency-Key` header of every write that takes it (route schema). */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      pattern: IDEMPOTENCY_KEY_PATTERN,
      description: 'Optional; 1..255 visible ASCII characters, unique per user and request, kept ≥ 24 h',
    }),
  ),
});

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Fingerprint of a request: method, route and body (key order does not matter). */
export function requestHash(method: string, route: string, body: unknown): string {
  return createHash('sha256')
    .update(`${method} ${route}\n${canonical(body)}`)
    .digest('base64url');
}

function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    p.then(
      () => {
        clearTimeout(t);
        resolve(true);
      },
      () => {
        clearTimeout(t);
        resolve(true);
      },
    );
  });
}

export class IdempotencyService {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    /** The key store, for effects that claim keys inside their own transaction (orders, charges). */
    readonly repo: IdempotencyRepository,
    private readonly metrics: Metrics,
    private readonly waitMs = 10_000,
  ) {}

  /** Runs `effect` unless the key already answered; see the module comment for every case. */
  async run(req: IdempotentRequest, effect: () => Promise<EffectResult>): Promise<Answer> {
    const id = refId(req);
    const deadline = Date.now() + this.waitMs;
    for (let first = this.running.get(id); first; first = this.running.get(id)) {
      const left = deadline - Date.now();
      if (left <= 0 || !(await settledWithin(first, left))) {
        this.metrics.idempotencyRejects.inc({ reason: 'in_progress' });
        throw appError(
          'IDEMPOTENCY_IN_PROGRESS',
          'a request with this Idempotency-Key is still running; retry shortly',
          {
            'retry-after': '1',
          },
        );
      }
    }
    // From here to the end this request owns the key in this process (set before any await).
    let release!: () => void;
    this.running.set(
      id,
      new Promise<void>((r) => {
        release = r;
      }),
    );
    try {
      const stored = await this.repo.find(req.userId, req.key);
      if (stored) return this.replay(req, stored);
      const result = await effect();
      if (result.kind === 'taken') return this.replay(req, result.record);
      return { ...result.response, replayed: false };
    } finally {
      this.running.delete(id);
      release();
    }
  }

  private replay(req: IdempotentRequest, record: KeyRecord): Answer {
    if (record.requestHash !== req.requestHash) {
      this.metrics.idempotencyRejects.inc({ reason: 'reused' });
      throw appError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request');
    }
    if (!record.response) {
      this.metrics.idempotencyRejects.inc({ reason: 'in_progress' });
      throw appError(
        'IDEMPOTENCY_IN_PROGRESS',
        'a request with this Idempotency-Key is still running; retry shortly',
        {
          'retry-after': '1',
        },
      );
    }
    this.metrics.idempotentReplays.inc({ route: req.route });
    return { ...record.response, replayed: true };
  }

  purge(): Promise<number> {
    return this.repo.purgeOlderThan(48);
  }
}
