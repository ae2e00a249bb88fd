/**
 * Waiting-room SQL: rooms, entries (who joined, with their place) and the admission log. Every
 * write is one statement; the admission statement is conditional (`status = 'WAITING'`), so an
 * entry is admitted at most once whatever a gate believed.
 */
import type { Pool } from '../../infra/postgres/pool.js';
import type { EntryStatus, RoomSnapshot } from './gate.js';

export interface RoomRow {
  id: string;
  name: string;
  maxActive: number | null;
  admitPerSecond: number | null;
  passTtlSeconds: number;
  idleTimeoutSeconds: number;
  opensAt: Date | null;
  paused: boolean;
  /** The rehearsal that created the room (migrations/006_run_tags.sql); null for a real one. Set once, at creation. */
  runTag?: string | null;
}

export type RoomSettings = Omit<RoomRow, 'id'>;

export interface NewEntry {
  roomId: string;
  userId: string;
  seq: number | null;
  joinedAt: Date;
}

const ROOM_COLUMNS = `id::text AS id, name, max_active AS "maxActive", admit_per_second AS "admitPerSecond",
  pass_ttl_seconds AS "passTtlSeconds", idle_timeout_seconds AS "idleTimeoutSeconds", opens_at AS "opensAt", paused,
  run_tag AS "runTag"`;

export class WaitingRoomsRepository {
  constructor(private readonly pool: Pool) {}

  async create(s: RoomSettings): Promise<RoomRow> {
    const { rows } = await this.pool.query<RoomRow>(
      `INSERT INTO waiting_rooms (name, max_active, admit_per_second, pass_ttl_seconds, idle_timeout_seconds, opens_at, paused, run_tag)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${ROOM_COLUMNS}`,
      [
        s.name,
        s.maxActive,
        s.admitPerSecond,
        s.passTtlSeconds,
        s.idleTimeoutSeconds,
        s.opensAt,
        s.paused,
        s.runTag ?? null,
      ],
    );
    return rows[0];
  }

  /** Replaces the settings of a room; null when there is no such room. */
  async update(id: string, s: RoomSettings): Promise<RoomRow | null> {
    const { rows } = await this.pool.query<RoomRow>(
      `UPDATE waiting_rooms SET name = $2, max_active = $3, admit_per_second = $4, pass_ttl_seconds = $5,
         idle_timeout_seconds = $6, opens_at = $7, paused = $8
       WHERE id = $1 RETURNING ${ROOM_COLUMNS}`,
      [
        id,
        s.name,
        s.maxActive,
        s.admitPerSecond,
        s.passTtlSeconds,
        s.idleTimeoutSeconds,
        s.opensAt,
        s.paused,
      ],
    );
    return rows[0] ?? null;
  }

  async get(id: string): Promise<RoomRow | null> {
    const { rows } = await this.pool.query<RoomRow>(
      `SELECT ${ROOM_COLUMNS} FROM waiting_rooms WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  /** Rooms in id order after `afterId`, limit+1 of them (so the caller knows if there is more). */
  async page(afterId: string | null, limit: number): Promise<(RoomRow & { createdAt: Date })[]> {
    const { rows } = await this.pool.query<RoomRow & { createdAt: Date }>(
      `SELECT ${ROOM_COLUMNS}, created_at AS "createdAt" FROM waiting_rooms
       WHERE id > $1 ORDER BY waiting_rooms.id LIMIT $2`,
      [afterId ?? '0', limit + 1],
    );
    return rows;
  }

  /** Every room (the admitter's list). */
  async all(): Promise<RoomRow[]> {
    const { rows } = await this.pool.query<RoomRow>(`SELECT ${ROOM_COLUMNS} FROM waiting_rooms ORDER BY id`);
    return rows;
  }

  /** A room's live entries and highest sequence, read in one snapshot (the gate's rebuild). */
  async snapshot(roomId: string): Promise<RoomSnapshot> {
    const { rows } = await this.pool.query<{
      userId: string;
      status: EntryStatus;
      seq: string | null;
      joinedAt: Date;
      admittedAt: Date | null;
      passExpiresAt: Date | null;
      lastSeq: string | null;
    }>(
      `SELECT e.user_id::text AS "userId", e.status, e.seq, e.joined_at AS "joinedAt", e.admitted_at AS "admittedAt",
              e.pass_expires_at AS "passExpiresAt", m.last AS "lastSeq"
       FROM (SELECT max(seq) AS last FROM waiting_room_entries WHERE room_id = $1) m
       LEFT JOIN waiting_room_entries e ON e.room_id = $1 AND e.status IN ('WAITING', 'ADMITTED')`,
      [roomId],
    );
    const lastSeq = Number(rows[0]?.lastSeq ?? 0);
    return {
      lastSeq,
      entries: rows
        .filter((r) => r.userId !== null)
        .map((r) => ({
          userId: r.userId,
          status: r.status,
          seq: r.seq === null ? null : Number(r.seq),
          joinedAt: r.joinedAt.getTime(),
          admittedAt: r.admittedAt?.getTime() ?? null,
          passExpiresAt: r.passExpiresAt?.getTime() ?? null,
        })),
    };
  }

  /**
   * The join group-commit executor: one statement for a batch. A user without an entry gets one; an
   * EXPIRED entry is replaced (rejoin at the back); any other existing entry is left as it is.
   * Returns, per item, whether PostgreSQL now holds the entry as joined.
   */
  async insertEntries(items: NewEntry[]): Promise<boolean[]> {
    const { rows } = await this.pool.query<{ user_id: string; room_id: string }>(
      `INSERT INTO waiting_room_entries AS e (room_id, user_id, seq, status, joined_at)
       SELECT r, u, s, 'WAITING', j FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS t(r, u, s, j)
       ON CONFLICT (room_id, user_id) DO UPDATE
         SET seq = EXCLUDED.seq, status = 'WAITING', joined_at = EXCLUDED.joined_at,
             admitted_at = NULL, pass_expires_at = NULL, ended_at = NULL
         WHERE e.status = 'EXPIRED'
       RETURNING e.user_id::text AS user_id, e.room_id::text AS room_id`,
      [
        items.map((i) => i.roomId),
        items.map((i) => i.userId),
        items.map((i) => i.seq),
        items.map((i) => i.joinedAt),
      ],
    );
    const done = new Set(rows.map((r) => `${r.room_id}:${r.user_id}`));
    return items.map((i) => done.has(`${i.roomId}:${i.userId}`));
  }

  /** The place each pre-queue user got at the opening. */
  async assignSeqs(roomId: string, placed: { userId: string; seq: number }[]): Promise<void> {
    if (placed.length === 0) return;
    await this.pool.query(
      `UPDATE waiting_room_entries e SET seq = t.s
       FROM unnest($2::bigint[], $3::bigint[]) AS t(u, s)
       WHERE e.room_id = $1 AND e.user_id = t.u AND e.status = 'WAITING' AND e.seq IS NULL`,
      [roomId, placed.map((p) => p.userId), placed.map((p) => p.seq)],
    );
  }

  /** Waiting entries without a place yet (pre-queue rows), at most `limit`. */
  async unplaced(roomId: string, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ user_id: string }>(
      `SELECT user_id::text AS user_id FROM waiting_room_entries
       WHERE room_id = $1 AND status = 'WAITING' AND seq IS NULL LIMIT $2`,
      [roomId, limit],
    );
    return rows.map((r) => r.user_id);
  }

  /**
   * Admits these waiting users and logs each decision, in one statement; returns those admitted
   * (in join order). An entry that is no longer WAITING is not admitted again.
   */
  async admit(roomId: string, userIds: string[], at: Date, passExpiresAt: Date): Promise<string[]> {
    if (userIds.length === 0) return [];
    const { rows } = await this.pool.query<{ user_id: string }>(
      `WITH adm AS (
         UPDATE waiting_room_entries e SET status = 'ADMITTED', admitted_at = $3, pass_expires_at = $4
         WHERE e.room_id = $1 AND e.user_id = ANY($2::bigint[]) AND e.status = 'WAITING' AND e.seq IS NOT NULL
         RETURNING e.user_id, e.seq
       ), log AS (
         INSERT INTO waiting_room_admissions (room_id, user_id, seq, admitted_at, pass_expires_at)
         SELECT $1, adm.user_id, adm.seq, $3, $4 FROM adm ORDER BY adm.seq
       )
       SELECT user_id::text AS user_id FROM adm ORDER BY seq`,
      [roomId, userIds, at, passExpiresAt],
    );
    return rows.map((r) => r.user_id);
  }

  /** Entries that ended (pass expired, idle, leave or purchase): their final status. */
  async end(
    roomId: string,
    userIds: string[],
    status: 'EXPIRED' | 'DONE',
    from: EntryStatus[],
  ): Promise<number> {
    if (userIds.length === 0) return 0;
    const res = await this.pool.query(
      `UPDATE waiting_room_entries SET status = $3, ended_at = now()
       WHERE room_id = $1 AND user_id = ANY($2::bigint[]) AND status = ANY($4::text[])`,
      [roomId, userIds, status, from],
    );
    return res.rowCount ?? 0;
  }

  /** The status (and pass expiry) PostgreSQL holds for these users' entries. */
  async statuses(
    roomId: string,
    userIds: string[],
  ): Promise<Map<string, { status: EntryStatus; passExpiresAt: Date | null }>> {
    const { rows } = await this.pool.query<{
      userId: string;
      status: EntryStatus;
      passExpiresAt: Date | null;
    }>(
      `SELECT user_id::text AS "userId", status, pass_expires_at AS "passExpiresAt"
       FROM waiting_room_entries WHERE room_id = $1 AND user_id = ANY($2::bigint[])`,
      [roomId, userIds],
    );
    return new Map(rows.map((r) => [r.userId, { status: r.status, passExpiresAt: r.passExpiresAt }]));
  }

  /** Removes a user's entry (leave); the status it had, or null. */
  async remove(roomId: string, userId: string): Promise<EntryStatus | null> {
    const { rows } = await this.pool.query<{ status: EntryStatus }>(
      'DELETE FROM waiting_room_entries WHERE room_id = $1 AND user_id = $2 RETURNING status',
      [roomId, userId],
    );
    return rows[0]?.status ?? null;
  }

  /** Admissions in total and over the last `seconds` (the measured admission rate). */
  async admissionCounts(roomId: string, seconds: number): Promise<{ total: number; recent: number }> {
    const { rows } = await this.pool.query<{ total: number; recent: number }>(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE admitted_at > now() - make_interval(secs => $2))::int AS recent
       FROM waiting_room_admissions WHERE room_id = $1`,
      [roomId, seconds],
    );
    return rows[0];
  }
}
