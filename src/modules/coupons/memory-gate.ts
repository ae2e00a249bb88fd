import type {
  CouponGate,
  GateSnapshot,
  ReserveOutcome,
  ResyncInput,
  ResyncResult,
  SettleOutcome,
} from './gate.js';

interface State {
  remaining: number;
  users: Set<string>;
  /** user id -> reservation time (ms) */
  pending: Map<string, number>;
}

/**
 * In-process gate for embedded mode. Every method runs to completion without awaiting, so on Node's
 * single thread each one is atomic, exactly like the Lua scripts of the Redis adapter.
 */
export class MemoryCouponGate implements CouponGate {
  readonly kind = 'memory' as const;
  private readonly coupons = new Map<string, State>();

  async reserve(couponId: string, userId: string, nowMs: number): Promise<ReserveOutcome> {
    const s = this.coupons.get(couponId);
    if (!s) return 'NOT_LOADED';
    if (s.users.has(userId)) return 'ALREADY_ISSUED';
    if (s.remaining <= 0) return 'SOLD_OUT';
    s.remaining -= 1;
    s.users.add(userId);
    s.pending.set(userId, nowMs);
    return 'RESERVED';
  }

  async settle(couponId: string, userId: string, outcome: SettleOutcome): Promise<void> {
    const s = this.coupons.get(couponId);
    if (!s?.pending.delete(userId)) return;
    if (outcome === 'ISSUED') return;
    if (outcome === 'DUPLICATE') {
      s.remaining += 1;
    } else if (outcome === 'SOLD_OUT') {
      s.remaining = 0;
      s.users.delete(userId);
    } else {
      s.remaining += 1;
      s.users.delete(userId);
    }
  }

  async load(couponId: string, snapshot: GateSnapshot): Promise<void> {
    this.coupons.set(couponId, {
      remaining: snapshot.remaining,
      users: new Set(snapshot.holders),
      pending: new Map(),
    });
  }

  async stalePending(couponId: string, cutoffMs: number): Promise<string[]> {
    const s = this.coupons.get(couponId);
    if (!s) return [];
    const out: string[] = [];
    for (const [user, at] of s.pending) if (at <= cutoffMs) out.push(user);
    return out;
  }

  async resync(couponId: string, input: ResyncInput): Promise<ResyncResult> {
    const s = this.coupons.get(couponId);
    if (!s) return { released: 0, confirmed: 0, resynced: false };
    let confirmed = 0;
    let released = 0;
    for (const u of input.committed) if (s.pending.delete(u)) confirmed += 1;
    for (const u of input.uncommitted) {
      if (s.pending.delete(u)) {
        s.users.delete(u);
        s.remaining += 1;
        released += 1;
      }
    }
    const resynced = s.pending.size === 0;
    if (resynced) s.remaining = input.remaining;
    return { released, confirmed, resynced };
  }

  async remaining(couponId: string): Promise<number | null> {
    return this.coupons.get(couponId)?.remaining ?? null;
  }

  async evict(couponId: string): Promise<void> {
    this.coupons.delete(couponId);
  }
}
