/**
 * The seat gate on Redis (cluster mode): each method is one Lua script (seatCheck-3,
 * seatSettle-3, seatLoad-3) on the schedule's `{seats:<id>}` keys; see seat-gate.ts for the contract.
 */
import type { RedisClient } from '../../infra/redis/client.js';
import type { Keys } from '../../infra/redis/keys.js';
import type { SeatCheck, SeatGate, SeatSettle, SeatSnapshot } from './seat-gate.js';

export class RedisSeatGate implements SeatGate {
  readonly kind = 'redis' as const;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
  ) {}

  async check(
    scheduleId: string,
    claimant: string,
    seats: number[],
    nowMs: number,
    limit: number,
  ): Promise<SeatCheck> {
    const k = this.keys.seatGate(scheduleId);
    const [code, ...taken] = await this.redis.seatCheck(
      k.loaded,
      k.seats,
      k.holders,
      claimant,
      nowMs,
      limit,
      seats,
    );
    switch (code) {
      case 0:
        return { outcome: 'CLEAR' };
      case 1:
        return { outcome: 'SEAT_UNAVAILABLE', seats: taken.map(Number) };
      case 2:
        return { outcome: 'HOLD_LIMIT' };
      case 3:
        return { outcome: 'NOT_LOADED' };
      default:
        throw new Error(`seatCheck answered ${code}`);
    }
  }

  async settle(
    scheduleId: string,
    claimant: string,
    seats: number[],
    outcome: SeatSettle,
    untilMs: number,
    nowMs: number,
  ): Promise<void> {
    const k = this.keys.seatGate(scheduleId);
    await this.redis.seatSettle(
      k.loaded,
      k.seats,
      k.holders,
      claimant,
      outcome,
      Math.round(untilMs),
      nowMs,
      seats,
    );
  }

  async load(scheduleId: string, snapshot: SeatSnapshot): Promise<void> {
    const k = this.keys.seatGate(scheduleId);
    const triples = snapshot.taken.flatMap((t) => [
      t.seat,
      t.holder,
      t.untilMs === null ? 'sold' : Math.round(t.untilMs),
    ]);
    await this.redis.seatLoad(k.loaded, k.seats, k.holders, triples);
  }

  async evict(scheduleId: string): Promise<void> {
    const k = this.keys.seatGate(scheduleId);
    await this.redis.del(k.loaded, k.seats, k.holders);
  }
}
