/**
 * Virtual waiting rooms: a fair line in front of a drop.
 *
 *   join      reserve a place in the gate (one atomic step: one place per user), then the entry is
 *             group-committed to PostgreSQL before the 201 (a failed commit gives the place back);
 *   read      the entry with its computed place, people ahead, an ETA from the measured admission
 *             rate, and its pass once admitted; every read (and an open event stream) is a heartbeat;
 *   admit     one process at a time (a lease; a dead admitter is replaced within the lease time)
 *             ticks every room: passes past expiry end (slots free), entries without a heartbeat are
 *             dropped, the pre-queue is shuffled in at the opening, and the next entries are admitted
 *             within `maxActive` and `admitPerSecond` — recorded in PostgreSQL first (conditional, so
 *             nobody is admitted twice), then moved in the gate;
 *   protect   a protected purchase presents a pass (signed, bound to room and user); the completed
 *             purchase ends it (DONE) and frees the slot.
 * A gate that lost its state (Redis restarted) is rebuilt from PostgreSQL before it answers again.
 */
import { randomInt } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { appError } from '../../http/errors.js';
import type { KeyedGroupCommitter } from '../../infra/group-committer.js';
import type { Lease, Locks } from '../../infra/locks.js';
import type { Metrics } from '../../infra/metrics.js';
import type { GateEntry, WaitingRoomGate } from './gate.js';
import type { PassSigner } from './passes.js';
import type { NewEntry, RoomRow, RoomSettings, WaitingRoomsRepository } from './repository.js';

export interface EntryView {
  status: GateEntry['status'];
  position: number | null;
  ahead: number;
  estimatedWaitSeconds: number | null;
  joinedAt: string;
  pass?: string;
  passExpiresAt?: string;
}

export interface RoomView {
  id: string;
  name: string;
  waiting: number;
  active: number;
  admittedTotal: number;
  /** Admissions per second over the last 10 s. */
  admitRate: number;
  maxActive: number | null;
  admitPerSecond: number | null;
  passTtlSeconds: number;
  idleTimeoutSeconds: number;
  opensAt: string | null;
  paused: boolean;
}

export interface AdmitterOptions {
  /** Period of the admission loop, ms. */
  tickMs: number;
  /** Lease of the admitter role, ms: a dead admitter is replaced after at most this long. */
  leaseMs: number;
}

/** Joins during the first seconds after the opening still go to the pre-queue (shuffled in next tick). */
const OPEN_GRACE_MS = 2_000;
const ROOM_TTL_MS = 1_000;
const RATE_WINDOW_S = 10;
const MAX_ADMIT_PER_TICK = 10_000;
/** A gate entry without a PostgreSQL row after this long lost its join (a crash before the commit). */
const ORPHAN_JOIN_MS = 30_000;

const shuffle = <T>(a: T[]): T[] => {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
};

export class WaitingRoomsService {
  private readonly rooms = new Map<string, { row: RoomRow | null; at: number }>();
  private readonly rates = new Map<string, { total: number; rate: number; at: number }>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  /**
   * Rooms deleted by a rehearsal cleanup (ids are never reused). A read that started before the
   * delete committed (an admission pass, a settings lookup) must not put the room back in the cache
   * or the gate; bounded, oldest forgotten first.
   */
  private readonly deleted = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private closed = false;
  /** True while this process holds the admitter lease. */
  leader = false;
  private readonly admittedListeners = new Set<(roomId: string, userIds: string[]) => void>();

  constructor(
    private readonly repo: WaitingRoomsRepository,
    private readonly gate: WaitingRoomGate,
    /** Join commits, one committer per room. */
    private readonly joins: KeyedGroupCommitter<NewEntry, boolean>,
    private readonly passes: PassSigner,
    private readonly locks: Locks,
    private readonly lease: Lease,
    private readonly metrics: Metrics,
    private readonly log: FastifyBaseLogger,
    private readonly opts: AdmitterOptions,
  ) {}

  get gateKind(): 'memory' | 'redis' {
    return this.gate.kind;
  }

  // ---- rooms -------------------------------------------------------------------------------

  async create(settings: RoomSettings): Promise<RoomRow> {
    const row = await this.repo.create(settings);
    this.rooms.set(row.id, { row, at: Date.now() });
    await this.gate.load(row.id, { lastSeq: 0, entries: [] }, Date.now()).catch(() => {}); // else rebuilt on use
    return row;
  }

  async update(roomId: string, patch: Partial<RoomSettings>): Promise<RoomRow> {
    const current = await this.repo.get(roomId);
    if (!current) throw appError('NOT_FOUND', `no waiting room ${roomId}`);
    const next = { ...current, ...patch };
    if (next.maxActive === null && next.admitPerSecond === null)
      throw appError('VALIDATION_FAILED', 'body: a room needs maxActive or admitPerSecond (or both)');
    const row = await this.repo.update(roomId, next);
    if (!row) throw appError('NOT_FOUND', `no waiting room ${roomId}`);
    this.rooms.set(roomId, { row, at: Date.now() });
    return row;
  }

  /** The room's settings, at most 1 s old (settings changed by another process show within a second). */
  async room(roomId: string): Promise<RoomRow> {
    const now = Date.now();
    const hit = this.rooms.get(roomId);
    let row = hit && now - hit.at < ROOM_TTL_MS ? hit.row : undefined;
    if (row === undefined) {
      row = await this.repo.get(roomId);
      if (this.deleted.has(roomId)) row = null;
      if (this.rooms.size > 10_000) this.rooms.clear();
      this.rooms.set(roomId, { row, at: now });
    }
    if (!row) throw appError('NOT_FOUND', `no waiting room ${roomId}`);
    return row;
  }

  /** Admissions so far and per second over the last 10 s, from the admission log, at most 1 s old. */
  private async rate(roomId: string): Promise<{ total: number; rate: number }> {
    const now = Date.now();
    const hit = this.rates.get(roomId);
    if (hit && now - hit.at < ROOM_TTL_MS) return hit;
    const { total, recent } = await this.repo.admissionCounts(roomId, RATE_WINDOW_S);
    const r = { total, rate: recent / RATE_WINDOW_S, at: now };
    if (this.rates.size > 10_000) this.rates.clear();
    this.rates.set(roomId, r);
    return r;
  }

  async view(roomId: string): Promise<RoomView> {
    const row = await this.room(roomId);
    const counts = await this.withGate(roomId, () => this.gate.counts(roomId).then((c) => c ?? 'NOT_LOADED'));
    const { total, rate } = await this.rate(roomId);
    return {
      id: row.id,
      name: row.name,
      waiting: counts.waiting + counts.prequeue,
      active: counts.active,
      admittedTotal: total,
      admitRate: Math.round(rate * 100) / 100,
      maxActive: row.maxActive,
      admitPerSecond: row.admitPerSecond,
      passTtlSeconds: row.passTtlSeconds,
      idleTimeoutSeconds: row.idleTimeoutSeconds,
      opensAt: row.opensAt?.toISOString() ?? null,
      paused: row.paused,
    };
  }

  // ---- entries -----------------------------------------------------------------------------

  /** Runs a gate call, rebuilding the room's gate from PostgreSQL once if it answers NOT_LOADED. */
  private async withGate<T>(roomId: string, fn: () => Promise<T | 'NOT_LOADED'>): Promise<T> {
    const first = await fn();
    if (first !== 'NOT_LOADED') return first;
    await this.rebuild(roomId);
    const again = await fn();
    if (again === 'NOT_LOADED')
      throw appError('UNAVAILABLE', 'the waiting room is being rebuilt; retry shortly', {
        'retry-after': '1',
      });
    return again;
  }

  /** Rebuilds a room's gate from PostgreSQL: one rebuild per room at a time, across processes. */
  private rebuild(roomId: string): Promise<void> {
    let p = this.loading.get(roomId);
    if (!p) {
      p = this.locks
        .runExclusive(`room-rebuild:${roomId}`, 30_000, async () => {
          if ((await this.gate.counts(roomId)) !== null) return; // another process rebuilt it
          const snap = await this.repo.snapshot(roomId);
          await this.gate.load(roomId, snap, Date.now());
          this.metrics.gateRebuilds.inc();
          this.log.info({ roomId, entries: snap.entries.length }, 'waiting room rebuilt from PostgreSQL');
        })
        .then(() => {})
        .finally(() => this.loading.delete(roomId));
      this.loading.set(roomId, p);
    }
    return p;
  }

  private async entryView(roomId: string, row: RoomRow, e: GateEntry): Promise<EntryView> {
    const ahead = e.position === null ? 0 : e.position - 1;
    let eta: number | null = null;
    if (e.status === 'WAITING' && e.position !== null) {
      const { rate } = await this.rate(roomId);
      const r = rate > 0 ? rate : (row.admitPerSecond ?? 0);
      eta = r > 0 ? Math.ceil(e.position / r) : null;
    }
    const view: EntryView = {
      status: e.status,
      position: e.position,
      ahead,
      estimatedWaitSeconds: eta,
      joinedAt: new Date(e.joinedAt).toISOString(),
    };
    if (e.status === 'ADMITTED' && e.passExpiresAt !== null && e.seq !== null) {
      view.pass = this.passes.sign({ roomId, userId: e.userId, seq: e.seq, expiresAt: e.passExpiresAt });
      view.passExpiresAt = new Date(e.passExpiresAt).toISOString();
    }
    return view;
  }

  /** Joins the line (201: created) or finds the user's entry (200); one entry per user and room. */
  async join(roomId: string, userId: string): Promise<{ created: boolean; entry: EntryView }> {
    const row = await this.room(roomId);
    const now = Date.now();
    const opened = !row.opensAt || now >= row.opensAt.getTime() + OPEN_GRACE_MS;
    const r = await this.withGate(roomId, () => this.gate.join(roomId, userId, Date.now(), opened));
    if (r.created) {
      try {
        await this.joins.submit(roomId, {
          roomId,
          userId,
          seq: r.entry.seq,
          joinedAt: new Date(r.entry.joinedAt),
        });
      } catch (err) {
        await this.gate.remove(roomId, userId).catch(() => {});
        this.log.warn({ err, roomId }, 'join could not be committed; place given back');
        throw appError('UNAVAILABLE', 'the join could not be made durable; try again', {
          'retry-after': '1',
        });
      }
      this.metrics.waitingRoomJoins.inc();
    }
    return { created: r.created, entry: await this.entryView(roomId, row, r.entry) };
  }

  /** The user's entry (a heartbeat), or 404 NOT_FOUND when not in the room. */
  async entry(roomId: string, userId: string, heartbeat = true): Promise<EntryView> {
    const row = await this.room(roomId);
    const e = await this.withGate(roomId, () => this.gate.get(roomId, userId, Date.now(), heartbeat));
    if (!e) throw appError('NOT_FOUND', `you are not in waiting room ${roomId}`);
    return this.entryView(roomId, row, e);
  }

  /** Leaves the room: the place (or the active slot) is freed. */
  async leave(roomId: string, userId: string): Promise<void> {
    await this.room(roomId);
    const had = await this.repo.remove(roomId, userId);
    const inGate = await this.gate.remove(roomId, userId);
    if (had === null && inGate === null) throw appError('NOT_FOUND', `you are not in waiting room ${roomId}`);
  }

  // ---- protection --------------------------------------------------------------------------

  /** 403 NOT_ADMITTED / PASS_EXPIRED unless `pass` is this user's live pass of this room. */
  async checkPass(roomId: string, userId: string, pass: string | undefined): Promise<void> {
    const now = Date.now();
    const c = this.passes.check(pass, roomId, userId, now);
    if (!c.ok) {
      this.metrics.passRejections.inc({ reason: c.why });
      if (c.why === 'expired')
        throw appError('PASS_EXPIRED', 'your waiting-room pass has expired; join the room again');
      throw appError(
        'NOT_ADMITTED',
        c.why === 'missing'
          ? `send the pass of waiting room ${roomId} in the X-Waiting-Room-Pass header`
          : 'this is not your waiting-room pass',
      );
    }
    const e = await this.withGate(roomId, () => this.gate.get(roomId, userId, now, false));
    if (e?.status === 'ADMITTED') return;
    const why = e?.status === 'EXPIRED' ? 'expired' : 'ended';
    this.metrics.passRejections.inc({ reason: why });
    if (why === 'expired')
      throw appError('PASS_EXPIRED', 'your waiting-room pass has expired; join the room again');
    throw appError('NOT_ADMITTED', 'this pass has been used or withdrawn');
  }

  /** A protected purchase completed: the entry is DONE and its slot is free. Never fails the purchase. */
  async complete(roomId: string, userId: string): Promise<void> {
    try {
      await this.repo.end(roomId, [userId], 'DONE', ['ADMITTED']);
      await this.gate.complete(roomId, userId);
    } catch (err) {
      this.log.warn({ err, roomId }, 'could not end a pass after its purchase; it expires by itself');
    }
  }

  // ---- admission ---------------------------------------------------------------------------

  /** Called with the users this process just admitted (streams push their pass without waiting for a pump). */
  onAdmitted(fn: (roomId: string, userIds: string[]) => void): void {
    this.admittedListeners.add(fn);
  }

  /** Starts the admission loop; only the lease holder admits. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      if (this.ticking || this.closed) return;
      this.ticking = this.tickAll()
        .catch((err) => this.log.warn({ err }, 'waiting-room admission pass failed'))
        .finally(() => {
          this.ticking = null;
        });
    }, this.opts.tickMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    if (this.leader) await this.lease.release();
    this.leader = false;
  }

  /** One admission pass over every room (exported for tests that drive time themselves). */
  async tickAll(): Promise<void> {
    const leader = await this.lease.hold();
    if (leader !== this.leader) this.log.info({ leader }, 'waiting-room admitter lease changed');
    this.leader = leader;
    if (!leader) {
      this.buckets.clear(); // a new leader starts with an empty rate budget: no burst on takeover
      return;
    }
    for (const row of await this.repo.all()) {
      if (this.deleted.has(row.id)) continue;
      this.rooms.set(row.id, { row, at: Date.now() });
      await this.tickRoom(row).catch((err) =>
        this.log.warn({ err, roomId: row.id }, 'room admission failed'),
      );
    }
  }

  /**
   * A pre-queue join whose row was still being committed when the opening placed it has a place in
   * the gate but none in PostgreSQL: copy the gate's place over (bounded per tick).
   */
  private async placeLateRows(roomId: string, now: number): Promise<void> {
    const unplaced = await this.repo.unplaced(roomId, 1_000);
    const placed: { userId: string; seq: number }[] = [];
    for (const userId of unplaced) {
      const e = await this.gate.get(roomId, userId, now, false);
      if (e !== 'NOT_LOADED' && e?.seq != null) placed.push({ userId, seq: e.seq });
    }
    await this.repo.assignSeqs(roomId, placed);
  }

  /** The rate budget of this tick: tokens accrue at admitPerSecond, capped at one tick's worth. */
  private budget(row: RoomRow, now: number): number {
    if (row.admitPerSecond === null) return MAX_ADMIT_PER_TICK;
    const cap = Math.max(1, (row.admitPerSecond * this.opts.tickMs) / 1000);
    const b = this.buckets.get(row.id) ?? { tokens: 0, at: now };
    b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * row.admitPerSecond);
    b.at = now;
    this.buckets.set(row.id, b);
    return Math.floor(b.tokens);
  }

  private async tickRoom(row: RoomRow): Promise<void> {
    const id = row.id;
    const now = Date.now();
    if (row.opensAt && now < row.opensAt.getTime()) return;
    if ((await this.gate.counts(id)) === null) await this.rebuild(id);
    const pre = await this.gate.prequeue(id);
    if (pre.length > 0) {
      const placed = await this.gate.open(id, shuffle(pre));
      await this.repo.assignSeqs(id, placed);
    }
    if (row.opensAt) await this.placeLateRows(id, now);
    const admitMax = row.paused ? 0 : this.budget(row, now);
    const t = await this.gate.tick(id, {
      nowMs: now,
      idleBeforeMs: now - row.idleTimeoutSeconds * 1000,
      maxActive: row.maxActive,
      admitMax,
    });
    if (t === 'NOT_LOADED') return;
    if (t.expired.length) await this.repo.end(id, t.expired, 'EXPIRED', ['ADMITTED']);
    if (t.dropped.length) {
      await this.repo.end(id, t.dropped, 'EXPIRED', ['WAITING']);
      this.metrics.waitingRoomDropped.inc({ room: id }, t.dropped.length);
    }
    if (t.candidates.length) await this.admit(row, t.candidates, now);
    const counts = await this.gate.counts(id);
    if (counts) {
      this.metrics.waitingRoomWaiting.set({ room: id }, counts.waiting + counts.prequeue);
      this.metrics.waitingRoomActive.set({ room: id }, counts.active);
    }
  }

  /**
   * PostgreSQL first (conditional: nobody twice), then the gate. Only the candidates up to the first
   * one whose join is not committed yet are admitted, so nobody overtakes an entry whose 201 is
   * still on its way; a candidate PostgreSQL refuses is re-synced from PostgreSQL.
   */
  private async admit(row: RoomRow, candidates: string[], now: number): Promise<void> {
    const truth = await this.repo.statuses(row.id, candidates);
    const ready: string[] = [];
    for (const userId of candidates) {
      if (truth.has(userId)) {
        ready.push(userId);
        continue;
      }
      // No row yet: its join is still being committed. Wait for it (next tick), unless the entry
      // is so old that no commit can still be running for it (a crash between gate and commit).
      const e = await this.gate.get(row.id, userId, now, false);
      if (e !== 'NOT_LOADED' && e && now - e.joinedAt > ORPHAN_JOIN_MS)
        await this.gate.remove(row.id, userId);
      break;
    }
    const passExpiresAt = now + row.passTtlSeconds * 1000;
    const admitted = await this.repo.admit(row.id, ready, new Date(now), new Date(passExpiresAt));
    await this.gate.admit(row.id, admitted, now, passExpiresAt);
    const b = this.buckets.get(row.id);
    if (b) b.tokens -= admitted.length;
    if (admitted.length) {
      this.metrics.waitingRoomAdmitted.inc({ room: row.id }, admitted.length);
      for (const fn of this.admittedListeners) fn(row.id, admitted);
    }
    if (admitted.length === ready.length) return;
    // The gate and PostgreSQL disagree about some candidates (a previous admitter died between its
    // two steps, or the gate is stale): PostgreSQL decides.
    const taken = new Set(admitted);
    for (const userId of ready.filter((u) => !taken.has(u))) {
      const t = truth.get(userId);
      if (t?.status === 'ADMITTED' && t.passExpiresAt) {
        await this.gate.admit(row.id, [userId], now, t.passExpiresAt.getTime());
      } else if (t?.status === 'WAITING') {
        // Placed in the gate at the opening but its place never reached PostgreSQL: write it now.
        const e = await this.gate.get(row.id, userId, now, false);
        if (e !== 'NOT_LOADED' && e?.seq != null)
          await this.repo.assignSeqs(row.id, [{ userId, seq: e.seq }]);
      } else {
        await this.gate.remove(row.id, userId);
      }
    }
  }

  // ---- admin list (GET /api/v1/admin/waiting-rooms) ------------------------------------------

  /**
   * Rooms in id order after `afterId` (limit+1 rows), each with its waiting (pre-queue included)
   * and active counts from the gate: O(1) per room, read in parallel. A room the gate has not
   * loaded (or a gate that fails) has null counts: a list starts no rebuild.
   */
  async page(
    afterId: string | null,
    limit: number,
  ): Promise<(RoomRow & { createdAt: Date; waiting: number | null; active: number | null })[]> {
    const rows = await this.repo.page(afterId, limit);
    return Promise.all(
      rows.map(async (r) => {
        const c = await this.gate.counts(r.id).catch(() => null);
        return { ...r, waiting: c ? c.waiting + c.prequeue : null, active: c ? c.active : null };
      }),
    );
  }

  // ---- rehearsal cleanup (DELETE /api/v1/admin/runs/:runTag) ------------------------------------

  /**
   * Called once a rehearsal's rows are deleted from PostgreSQL: its rooms leave the gate and the
   * settings cache, and its users' entries in the rooms that remain leave their gates (an entry with
   * no row would hold the line until the admitter's orphan timeout). A gate failure is logged, not
   * thrown: the rows are gone either way, a room's gate is rebuilt from PostgreSQL, and the admitter
   * drops an entry without a row after ORPHAN_JOIN_MS.
   */
  async forgetDeleted(roomIds: string[], entries: { roomId: string; userId: string }[]): Promise<void> {
    for (const roomId of roomIds) {
      this.deleted.add(roomId);
      if (this.deleted.size > 10_000) this.deleted.delete(this.deleted.values().next().value as string);
      this.rooms.delete(roomId);
      this.rates.delete(roomId);
      this.buckets.delete(roomId);
      await this.gate
        .evict(roomId)
        .catch((err) => this.log.warn({ err, roomId }, 'deleted room left in the gate'));
    }
    const gone = new Set(roomIds);
    for (const { roomId, userId } of entries) {
      if (gone.has(roomId)) continue;
      await this.gate
        .remove(roomId, userId)
        .catch((err) => this.log.warn({ err, roomId }, 'deleted entry left in the gate'));
    }
  }
}
