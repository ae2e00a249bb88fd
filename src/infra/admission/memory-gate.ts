import type {
  AdmissionGate,
  GateSnapshot,
  ReserveOutcome,
  ResyncInput,
  ResyncResult,
  SettleOutcome,
} from './gate.js';

interface State {
  remaining: number;
  /** Claimants holding a unit or being given one. */
  users: Set<string>;
  /** claimant -> reservation time (ms) */
  pending: Map<string, number>;
}

/**
 * In-process admission gate for embedded mode, one state per key. Every method runs to completion
 * without awaiting, so on Node's single thread each one is atomic, like the Redis adapter's scripts.
 */
export class MemoryAdmissionGate implements AdmissionGate {
  readonly kind = 'memory' as const;
  private readonly states = new Map<string, State>();

  async reserve(key: string, claimant: string, nowMs: number): Promise<ReserveOutcome> {
    const s = this.states.get(key);
    if (!s) return 'NOT_LOADED';
    if (s.users.has(claimant)) return 'ALREADY_ISSUED';
    if (s.remaining <= 0) return 'SOLD_OUT';
    s.remaining -= 1;
    s.users.add(claimant);
    s.pending.set(claimant, nowMs);
    return 'RESERVED';
  }

  async settle(key: string, claimant: string, outcome: SettleOutcome): Promise<void> {
    const s = this.states.get(key);
    if (!s?.pending.delete(claimant)) return;
    if (outcome === 'ISSUED') return;
    if (outcome === 'DUPLICATE') {
      s.remaining += 1;
    } else if (outcome === 'SOLD_OUT') {
      s.remaining = 0;
      s.users.delete(claimant);
    } else {
      s.remaining += 1;
      s.users.delete(claimant);
    }
  }

  async load(key: string, snapshot: GateSnapshot): Promise<void> {
    this.states.set(key, {
      remaining: snapshot.remaining,
      users: new Set(snapshot.holders),
      pending: new Map(),
    });
  }

  async stalePending(key: string, cutoffMs: number): Promise<string[]> {
    const s = this.states.get(key);
    if (!s) return [];
    const out: string[] = [];
    for (const [user, at] of s.pending) if (at <= cutoffMs) out.push(user);
    return out;
  }

  async resync(key: string, input: ResyncInput): Promise<ResyncResult> {
    const s = this.states.get(key);
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

  async remaining(key: string): Promise<number | null> {
    return this.states.get(key)?.remaining ?? null;
  }

  async evict(key: string): Promise<void> {
    this.states.delete(key);
  }
}
