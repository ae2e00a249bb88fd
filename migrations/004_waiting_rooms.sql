-- Up Migration
-- Virtual waiting rooms. PostgreSQL holds who joined (entries, with their join sequence) and every
-- admission decision (the admission log: who, when, in what order), so a drill can audit fairness
-- and a gate (memory or Redis) that lost its state is rebuilt from here. Positions are not stored:
-- the gate computes them from the join sequence.

CREATE TABLE waiting_rooms (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                  text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  max_active            integer CHECK (max_active BETWEEN 1 AND 1000000),
  admit_per_second      integer CHECK (admit_per_second BETWEEN 1 AND 100000),
  pass_ttl_seconds      integer NOT NULL DEFAULT 300 CHECK (pass_ttl_seconds BETWEEN 10 AND 86400),
  idle_timeout_seconds  integer NOT NULL DEFAULT 60 CHECK (idle_timeout_seconds BETWEEN 5 AND 3600),
  opens_at              timestamptz,
  paused                boolean NOT NULL DEFAULT false,
  created_at            timestamptz NOT NULL DEFAULT now(),
  CHECK (max_active IS NOT NULL OR admit_per_second IS NOT NULL)
);

CREATE TABLE waiting_room_entries (
  room_id          bigint NOT NULL REFERENCES waiting_rooms (id),
  user_id          bigint NOT NULL REFERENCES users (id),
  -- Join sequence: the place in line. NULL while in the pre-queue (joined before opens_at); the
  -- opening assigns sequences in random order.
  seq              bigint,
  status           text NOT NULL CHECK (status IN ('WAITING', 'ADMITTED', 'EXPIRED', 'DONE')),
  joined_at        timestamptz NOT NULL DEFAULT now(),
  admitted_at      timestamptz,
  pass_expires_at  timestamptz,
  ended_at         timestamptz,
  -- One entry per user and room.
  PRIMARY KEY (room_id, user_id),
  CONSTRAINT waiting_room_entries_one_place UNIQUE (room_id, seq)
);
CREATE INDEX waiting_room_entries_live ON waiting_room_entries (room_id, status);

-- The admission log, append-only: one row per admission decision.
CREATE TABLE waiting_room_admissions (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  room_id          bigint NOT NULL REFERENCES waiting_rooms (id),
  user_id          bigint NOT NULL REFERENCES users (id),
  seq              bigint NOT NULL,
  admitted_at      timestamptz NOT NULL,
  pass_expires_at  timestamptz NOT NULL
);
CREATE INDEX waiting_room_admissions_by_room ON waiting_room_admissions (room_id, admitted_at);

-- A coupon drop behind a waiting room: issuing needs a pass of that room.
ALTER TABLE coupons ADD COLUMN waiting_room_id bigint REFERENCES waiting_rooms (id);

-- Down Migration
ALTER TABLE coupons DROP COLUMN waiting_room_id;
DROP TABLE waiting_room_admissions;
DROP TABLE waiting_room_entries;
DROP TABLE waiting_rooms;
