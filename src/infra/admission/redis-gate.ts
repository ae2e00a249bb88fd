import type { RedisClient } from '../redis/client.js';
import type { UnitKeys } from '../redis/keys.js';
import {
  type AdmissionGate,
  type GateSnapshot,
  GateUnavailableError,
  type ReserveOutcome,
  type ResyncInput,
  type ResyncResult,
  type SettleOutcome,
} from './gate.js';

/** The one place script integer codes become typed results (see reserveUnit-3.lua). */
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

/**
 * Cluster-mode admission gate: each multi-step method is one Lua script over one key's keys, which
 * share a hash tag (one Redis Cluster slot). The kind of unit supplies its key names (`UnitKeys`).
 */
export class RedisAdmissionGate implements AdmissionGate {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: UnitKeys,
  ) {}

  private k3(key: string): [string, string, string] {
    return [this.keys.remaining(key), this.keys.holders(key), this.keys.pending(key)];
  }

  async reserve(key: string, claimant: string, nowMs: number): Promise<ReserveOutcome> {
    const code = await call(() => this.redis.reserveUnit(...this.k3(key), claimant, nowMs));
    const outcome = RESERVE_CODES[code];
    if (!outcome) throw new GateUnavailableError(`reserveUnit returned unknown code ${code}`);
    return outcome;
  }

  async settle(key: string, claimant: string, outcome: SettleOutcome): Promise<void> {
    await call(() => this.redis.settleUnit(...this.k3(key), claimant, outcome));
  }

  async load(key: string, snapshot: GateSnapshot): Promise<void> {
    const staging = this.keys.staging(key);
    await call(async () => {
      await this.redis.del(staging);
      for (let i = 0; i < snapshot.holders.length; i += STAGE_CHUNK) {
        await this.redis.stageHolders(staging, ...snapshot.holders.slice(i, i + STAGE_CHUNK));
      }
      await this.redis.loadUnits(...this.k3(key), staging, snapshot.remaining);
    });
  }

  async stalePending(key: string, cutoffMs: number): Promise<string[]> {
    return call(() => this.redis.zrangebyscore(this.keys.pending(key), '-inf', cutoffMs, 'LIMIT', 0, 10_000));
  }

  async resync(key: string, input: ResyncInput): Promise<ResyncResult> {
    const [released, confirmed, resynced] = await call(() =>
      this.redis.resyncUnits(
        ...this.k3(key),
        input.remaining,
        input.committed.length,
        ...input.committed,
        ...input.uncommitted,
      ),
    );
    return { released, confirmed, resynced: resynced === 1 };
  }

  async remaining(key: string): Promise<number | null> {
    const v = await call(() => this.redis.get(this.keys.remaining(key)));
    return v === null ? null : Number(v);
  }

  async evict(key: string): Promise<void> {
    const [a, b, c] = this.k3(key);
    await call(() => this.redis.del(a, b, c, this.keys.staging(key)));
  }
}
