-- Up Migration
-- Event chat: rooms, their members and their messages. PostgreSQL is the truth of a room's history:
-- every message gets its place (`seq`, 1, 2, 3... per room, without gaps) here, in the transaction
-- that stores it, from the room row's `last_seq`. Pub/sub only carries copies; a reconnecting client
-- replays from PostgreSQL by seq.
--
-- Why no gaps: a batch of messages takes its seqs by raising `last_seq` by the number of rows it
-- inserts, in the same statement (src/modules/chat/repository.ts). The room row's lock orders the
-- batches of every process; a batch that fails rolls back its raise with its rows. So when seq N is
-- committed, every seq below N was committed before it.

CREATE TABLE chat_rooms (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  topic       text CHECK (char_length(topic) BETWEEN 1 AND 500),
  created_by  bigint NOT NULL REFERENCES users (id),
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- The seq of the room's latest message (0: none yet).
  last_seq    bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

CREATE TABLE chat_members (
  room_id    bigint NOT NULL REFERENCES chat_rooms (id),
  user_id    bigint NOT NULL REFERENCES users (id),
  joined_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room_id, user_id)
);

CREATE TABLE chat_messages (
  room_id        bigint NOT NULL REFERENCES chat_rooms (id),
  seq            bigint NOT NULL CHECK (seq >= 1),
  id             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  user_id        bigint NOT NULL REFERENCES users (id),
  text           text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000),
  -- The sender's own id for the message: a resend with the same one is the same message.
  client_msg_id  text CHECK (char_length(client_msg_id) BETWEEN 1 AND 100),
  at             timestamptz NOT NULL DEFAULT now(),
  -- History pages and replays read by (room, seq).
  PRIMARY KEY (room_id, seq)
);
-- A user's clientMsgId names one message (the last line of defence of the idempotent send).
CREATE UNIQUE INDEX chat_messages_once ON chat_messages (user_id, client_msg_id)
  WHERE client_msg_id IS NOT NULL;

-- Down Migration
DROP TABLE chat_messages;
DROP TABLE chat_members;
DROP TABLE chat_rooms;
