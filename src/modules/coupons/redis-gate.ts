import type { RedisClient } from '../../infra/redis/client.js';
import type { Keys } from '../../infra/redis/keys.js';
import {
  type CouponGate,
  type GateSnapshot,
  GateUnavailableError,
  type ReserveOutcome,
  type ResyncInput,
  type ResyncResult,
  type SettleOutcome,
} from './gate.js';

/** The one place script integer codes become typed results (see reserveCoupon-3.lua). */
const RESERVE_CODES: Record<number, ReserveOutcome> = {
  1: 'RESERVED',
  2: 'ALREADY_ISSUED',
  3: 'SOLD_OUT',
  4: 'NOT_LOADED',
};

const STAGE_CHUNK = 5_000;

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new GateUnavailableError(`redis gate: ${(err as Error).message}`, { cause: err });
  }
}

/** Cluster-mode gate: each multi-step method is one Lua script over the coupon's hash-tagged keys. */
export class RedisCouponGate implements CouponGate {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  private k3(id: string): [string, string, string] {
    return [this.keys.couponRemaining(id), this.keys.couponUsers(id), this.keys.couponPending(id)];
  }

  async reserve(couponId: string, userId: string, nowMs: number): Promise<ReserveOutcome> {
    const code = await call(() => this.redis.reserveCoupon(...this.k3(couponId), userId, nowMs));
    const outcome = RESERVE_CODES[code];
    if (!outcome) throw new GateUnavailableError(`reserveCoupon returned unknown code ${code}`);
    return outcome;
  }

  async settle(couponId: string, userId: string, outcome: SettleOutcome): Promise<void> {
    await call(() => this.redis.settleCoupon(...this.k3(couponId), userId, outcome));
  }

  async load(couponId: string, snapshot: GateSnapshot): Promise<void> {
    const staging = this.keys.couponUsersStaging(couponId);
    await call(async () => {
      await this.redis.del(staging);
      for (let i = 0; i < snapshot.holders.length; i += STAGE_CHUNK) {
        await this.redis.stageCouponUsers(staging, ...snapshot.holders.slice(i, i + STAGE_CHUNK));
      }
      await this.redis.loadCoupon(...this.k3(couponId), staging, snapshot.remaining);
    });
  }

  async stalePending(couponId: string, cutoffMs: number): Promise<string[]> {
    return call(() =>
      this.redis.zrangebyscore(this.keys.couponPending(couponId), '-inf', cutoffMs, 'LIMIT', 0, 10_000),
    );
  }

  async resync(couponId: string, input: ResyncInput): Promise<ResyncResult> {
    const [released, confirmed, resynced] = await call(() =>
      this.redis.resyncCoupon(
        ...this.k3(couponId),
        input.remaining,
        input.committed.length,
        ...input.committed,
        ...input.uncommitted,
      ),
    );
    return { released, confirmed, resynced: resynced === 1 };
  }

  async remaining(couponId: string): Promise<number | null> {
    const v = await call(() => this.redis.get(this.keys.couponRemaining(couponId)));
    return v === null ? null : Number(v);
  }

  async evict(couponId: string): Promise<void> {
    const [a, b, c] = this.k3(couponId);
    await call(() => this.redis.del(a, b, c, this.keys.couponUsersStaging(couponId)));
  }
}
