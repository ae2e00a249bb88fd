/** The seat gate in process memory (embedded mode); see seat-gate.ts for the contract. */
import type { SeatCheck, SeatGate, SeatSettle, SeatSnapshot } from './seat-gate.js';

interface Entry {
  claimant: string;
  /** ms since epoch; Infinity = sold. */
  until: number;
}

const MAX_SCHEDULES = 10_000;

export class MemorySeatGate implements SeatGate {
  readonly kind = 'memory' as const;
  private readonly schedules = new Map<string, Map<number, Entry>>();

  async check(
    scheduleId: string,
    claimant: string,
    seats: number[],
    nowMs: number,
    limit: number,
  ): Promise<SeatCheck> {
    const map = this.schedules.get(scheduleId);
    if (!map) return { outcome: 'NOT_LOADED' };
    let live = 0;
    for (const e of map.values())
      if (e.claimant === claimant && e.until > nowMs && e.until !== Infinity) live++;
    if (live + seats.length > limit) return { outcome: 'HOLD_LIMIT' };
    const taken = seats.filter((s) => {
      const e = map.get(s);
      return e !== undefined && e.until > nowMs;
    });
    return taken.length ? { outcome: 'SEAT_UNAVAILABLE', seats: taken } : { outcome: 'CLEAR' };
  }

  async settle(
    scheduleId: string,
    claimant: string,
    seats: number[],
    outcome: SeatSettle,
    untilMs: number,
  ): Promise<void> {
    const map = this.schedules.get(scheduleId);
    if (!map) return;
    for (const s of seats) {
      const e = map.get(s);
      if (outcome === 'SOLD') map.set(s, { claimant, until: Infinity });
      else if (e?.until === Infinity) continue;
      else if (outcome === 'HELD') map.set(s, { claimant, until: untilMs });
      else if (e?.claimant === claimant) map.delete(s);
    }
  }

  async load(scheduleId: string, snapshot: SeatSnapshot): Promise<void> {
    if (this.schedules.size >= MAX_SCHEDULES && !this.schedules.has(scheduleId)) this.schedules.clear();
    this.schedules.set(
      scheduleId,
      new Map(snapshot.taken.map((t) => [t.seat, { claimant: t.holder, until: t.untilMs ?? Infinity }])),
    );
  }

  async evict(scheduleId: string): Promise<void> {
    this.schedules.delete(scheduleId);
  }
}
