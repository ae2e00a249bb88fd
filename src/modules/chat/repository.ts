/**
 * Chat SQL: rooms, members and messages (migrations/007_chat.sql). The message batch is the one
 * statement that matters: it checks membership, recognises resends by (user, clientMsgId), gives
 * each new message the next seq of its room and raises the room's `last_seq` by exactly the number
 * of rows it inserts, all at once, so a committed seq N means every seq below N is committed too.
 */
import type { Pool } from '../../infra/postgres/pool.js';

export interface RoomRow {
  id: string;
  name: string;
  topic: string | null;
  createdBy: string;
  createdAt: Date;
}

/** A stored message, as clients see it (and as pub/sub carries it between processes). */
export interface ChatMessage {
  seq: number;
  id: string;
  roomId: string;
  userId: string;
  userName: string;
  text: string;
  /** ISO-8601 UTC: when PostgreSQL stored it. */
  at: string;
  clientMsgId?: string;
}

export interface NewMessage {
  roomId: string;
  userId: string;
  text: string;
  clientMsgId: string | null;
}

/** What became of one message of a batch. */
export type StoreOutcome =
  /** Stored now (`created`), or stored before under the same clientMsgId (a resend). */
  | { kind: 'stored'; message: ChatMessage; created: boolean }
  /** The clientMsgId already names a message with another room or text. */
  | { kind: 'reused'; message: ChatMessage }
  | { kind: 'not_member' }
  | { kind: 'no_room' };

interface MessageRecord {
  seq: string;
  id: string;
  roomId: string;
  userId: string;
  userName: string;
  text: string;
  clientMsgId: string | null;
  at: Date;
}

const MESSAGE_COLUMNS = `m.seq, m.id::text AS id, m.room_id::text AS "roomId", m.user_id::text AS "userId",
  u.name AS "userName", m.text, m.client_msg_id AS "clientMsgId", m.at`;

const ROOM_COLUMNS = `id::text AS id, name, topic, created_by::text AS "createdBy", created_at AS "createdAt"`;

function messageOf(r: MessageRecord): ChatMessage {
  return {
    seq: Number(r.seq),
    id: r.id,
    roomId: r.roomId,
    userId: r.userId,
    userName: r.userName,
    text: r.text,
    at: r.at.toISOString(),
    ...(r.clientMsgId === null ? {} : { clientMsgId: r.clientMsgId }),
  };
}

/**
 * One batch of one room, one statement:
 *   member    the items whose sender is a member of the room
 *   earlier   messages already stored under a member item's (user, clientMsgId)
 *   numbered  the items to insert: members' items that are not resends, the first of each
 *             (user, clientMsgId) of the batch, numbered 1..k in arrival order
 *   raised    the room's last_seq + k (the row lock orders batches of every process)
 *   inserted  the k messages, seqs base+1..base+k
 * and one row per item, in order, naming the message it now stands for. A clientMsgId committed
 * by a concurrent batch of another room is seen by none of these snapshots: the unique index
 * then fails the statement (class 23), nothing of it stays, and the group committer retries.
 */
const STORE_BATCH = `
WITH input AS (
  SELECT t.user_id, t.text, t.client_msg_id, t.ord
  FROM unnest($2::bigint[], $3::text[], $4::text[]) WITH ORDINALITY AS t(user_id, text, client_msg_id, ord)
), room AS (
  SELECT id FROM chat_rooms WHERE id = $1::bigint
), member AS (
  SELECT i.* FROM input i
  WHERE EXISTS (SELECT 1 FROM chat_members c WHERE c.room_id = $1::bigint AND c.user_id = i.user_id)
), earlier AS (
  SELECT m.id, m.room_id, m.seq, m.user_id, m.text, m.client_msg_id, m.at FROM chat_messages m
  WHERE m.client_msg_id IS NOT NULL
    AND (m.user_id, m.client_msg_id) IN (SELECT user_id, client_msg_id FROM member)
), fresh AS (
  SELECT DISTINCT ON (i.user_id, coalesce(i.client_msg_id, '#' || i.ord)) i.*
  FROM member i
  WHERE NOT EXISTS (SELECT 1 FROM earlier e WHERE e.user_id = i.user_id AND e.client_msg_id = i.client_msg_id)
  ORDER BY i.user_id, coalesce(i.client_msg_id, '#' || i.ord), i.ord
), numbered AS (
  SELECT f.*, row_number() OVER (ORDER BY f.ord) AS n FROM fresh f
), raised AS (
  UPDATE chat_rooms r SET last_seq = r.last_seq + (SELECT count(*) FROM numbered)
  WHERE r.id = $1::bigint AND EXISTS (SELECT 1 FROM numbered)
  RETURNING r.last_seq - (SELECT count(*) FROM numbered) AS base
), inserted AS (
  INSERT INTO chat_messages (room_id, seq, user_id, text, client_msg_id)
  SELECT $1::bigint, raised.base + n.n, n.user_id, n.text, n.client_msg_id FROM numbered n CROSS JOIN raised
  RETURNING id, room_id, seq, user_id, text, client_msg_id, at
), stored AS (
  SELECT * FROM inserted UNION ALL SELECT * FROM earlier
)
SELECT EXISTS (SELECT 1 FROM room) AS "roomExists", mb.ord IS NOT NULL AS "isMember", n.ord IS NOT NULL AS created,
       m.seq, m.id::text AS id, m.room_id::text AS "roomId", m.user_id::text AS "userId", u.name AS "userName",
       m.text, m.client_msg_id AS "clientMsgId", m.at
FROM input i
LEFT JOIN member mb ON mb.ord = i.ord
LEFT JOIN numbered n ON n.ord = i.ord
LEFT JOIN raised ON true
LEFT JOIN stored m ON (i.client_msg_id IS NOT NULL AND m.user_id = i.user_id AND m.client_msg_id = i.client_msg_id)
                   OR (i.client_msg_id IS NULL AND m.room_id = $1::bigint AND m.seq = raised.base + n.n)
LEFT JOIN users u ON u.id = m.user_id
ORDER BY i.ord`;

export class ChatRepository {
  constructor(private readonly pool: Pool) {}

  /** A new room; its creator is its first member (same statement). */
  async createRoom(name: string, topic: string | null, createdBy: string): Promise<RoomRow> {
    const { rows } = await this.pool.query<RoomRow>(
      `WITH room AS (
         INSERT INTO chat_rooms (name, topic, created_by) VALUES ($1, $2, $3) RETURNING *
       ), member AS (
         INSERT INTO chat_members (room_id, user_id) SELECT id, created_by FROM room
       )
       SELECT ${ROOM_COLUMNS} FROM room`,
      [name, topic, createdBy],
    );
    return rows[0];
  }

  async room(id: string): Promise<RoomRow | null> {
    const { rows } = await this.pool.query<RoomRow>(`SELECT ${ROOM_COLUMNS} FROM chat_rooms WHERE id = $1`, [
      id,
    ]);
    return rows[0] ?? null;
  }

  /** Rooms in id order after `afterId`, limit+1 of them (so the caller knows if there is more). */
  async roomPage(afterId: string | null, limit: number): Promise<RoomRow[]> {
    const { rows } = await this.pool.query<RoomRow>(
      `SELECT ${ROOM_COLUMNS} FROM chat_rooms WHERE id > $1 ORDER BY id LIMIT $2`,
      [afterId ?? '0', limit + 1],
    );
    return rows;
  }

  /** Makes the user a member (once); when they joined, or null when there is no such room. */
  async join(roomId: string, userId: string): Promise<Date | null> {
    const { rows } = await this.pool.query<{ joinedAt: Date | null }>(
      `WITH room AS (
         SELECT id FROM chat_rooms WHERE id = $1
       ), added AS (
         INSERT INTO chat_members (room_id, user_id) SELECT id, $2 FROM room
         ON CONFLICT (room_id, user_id) DO NOTHING RETURNING joined_at
       )
       SELECT coalesce((SELECT joined_at FROM added),
                       (SELECT joined_at FROM chat_members WHERE room_id = $1 AND user_id = $2)) AS "joinedAt"`,
      [roomId, userId],
    );
    return rows[0]?.joinedAt ?? null;
  }

  /** Ends a membership; false when there is no such room (leaving twice is not an error). */
  async leave(roomId: string, userId: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ roomExists: boolean }>(
      `WITH gone AS (DELETE FROM chat_members WHERE room_id = $1 AND user_id = $2)
       SELECT EXISTS (SELECT 1 FROM chat_rooms WHERE id = $1) AS "roomExists"`,
      [roomId, userId],
    );
    return rows[0].roomExists;
  }

  /** The room's existence and the user's membership, in one read. */
  async access(roomId: string, userId: string): Promise<'member' | 'not_member' | 'no_room'> {
    const { rows } = await this.pool.query<{ member: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM chat_members WHERE room_id = r.id AND user_id = $2) AS member
       FROM chat_rooms r WHERE r.id = $1`,
      [roomId, userId],
    );
    if (rows.length === 0) return 'no_room';
    return rows[0].member ? 'member' : 'not_member';
  }

  /** The seq of each room's latest message (0: none); rooms that do not exist are left out. */
  async lastSeqs(roomIds: readonly string[]): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ id: string; lastSeq: string }>(
      `SELECT id::text AS id, last_seq AS "lastSeq" FROM chat_rooms WHERE id = ANY($1::bigint[])`,
      [roomIds],
    );
    return new Map(rows.map((r) => [r.id, Number(r.lastSeq)]));
  }

  /** Messages with afterSeq < seq < beforeSeq, oldest first, at most `limit`, from the oldest such. */
  async after(
    roomId: string,
    afterSeq: number,
    beforeSeq: number | null,
    limit: number,
  ): Promise<ChatMessage[]> {
    const { rows } = await this.pool.query<MessageRecord>(
      `SELECT ${MESSAGE_COLUMNS} FROM chat_messages m JOIN users u ON u.id = m.user_id
       WHERE m.room_id = $1 AND m.seq > $2 AND ($3::bigint IS NULL OR m.seq < $3)
       ORDER BY m.seq LIMIT $4`,
      [roomId, afterSeq, beforeSeq, limit],
    );
    return rows.map(messageOf);
  }

  /** The `limit` latest messages with seq < beforeSeq (any when null), oldest first. */
  async latest(roomId: string, beforeSeq: number | null, limit: number): Promise<ChatMessage[]> {
    const { rows } = await this.pool.query<MessageRecord>(
      `SELECT * FROM (
         SELECT ${MESSAGE_COLUMNS} FROM chat_messages m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = $1 AND ($2::bigint IS NULL OR m.seq < $2)
         ORDER BY m.seq DESC LIMIT $3
       ) page ORDER BY seq`,
      [roomId, beforeSeq, limit],
    );
    return rows.map(messageOf);
  }

  /** The group-commit executor of one room's messages: see STORE_BATCH. One outcome per item. */
  async storeBatch(roomId: string, items: readonly NewMessage[]): Promise<StoreOutcome[]> {
    const { rows } = await this.pool.query<
      MessageRecord & { roomExists: boolean; isMember: boolean; created: boolean }
    >(STORE_BATCH, [
      roomId,
      items.map((i) => i.userId),
      items.map((i) => i.text),
      items.map((i) => i.clientMsgId),
    ]);
    return rows.map((r, i): StoreOutcome => {
      if (!r.roomExists) return { kind: 'no_room' };
      if (!r.isMember) return { kind: 'not_member' };
      if (r.id === null) throw new Error(`chat batch of room ${roomId}: item ${i} matched no message`);
      const message = messageOf(r);
      if (message.roomId !== roomId || message.text !== items[i].text) return { kind: 'reused', message };
      return { kind: 'stored', message, created: r.created };
    });
  }
}
