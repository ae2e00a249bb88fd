-- Up Migration
-- Concerts: schedules with numbered seats, timed holds paid with points.
--
-- Invariants, enforced by PostgreSQL itself (whatever a gate in front believed):
--   * a seat is sold at most once: sold_seats UNIQUE (schedule_id, seat_number);
--   * at any instant at most one live hold covers a seat: a seat's hold lives ON the seat row
--     (status, reservation_id, hold_expires_at), so there is only one, and it is taken over only by a
--     conditional write on that locked row (status = 'AVAILABLE' OR (status = 'HELD' AND
--     hold_expires_at <= now())); two writers racing for one seat serialise on its row lock and the
--     second re-evaluates the condition on the first's committed row, so the expiry boundary race
--     has exactly one winner;
--   * a hold past its expiry blocks nobody and can never be paid: expiry is the one predicate
--     `expires_at > now()` (PostgreSQL's clock), used by hold, pay and every read. The sweeper only
--     tidies (marks EXPIRED, frees the seat rows, emits reservation.expired); it decides nothing.
--
-- Lock order of every writer (deadlock freedom): idempotency_keys → concert_schedules (holds) or
-- seat_reservations (pay, cancel, sweeper) → schedule_seats (ascending seat_number) → point_wallets.

CREATE TABLE concerts (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name             text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  venue            text CHECK (venue IS NULL OR char_length(venue) BETWEEN 1 AND 200),
  -- Holding seats needs a pass of this waiting room; NULL = unprotected.
  waiting_room_id  bigint REFERENCES waiting_rooms (id),
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE concert_schedules (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  concert_id  bigint NOT NULL REFERENCES concerts (id),
  starts_at   timestamptz NOT NULL,
  seat_count  integer NOT NULL CHECK (seat_count BETWEEN 1 AND 1000),
  -- Points per seat.
  price       bigint NOT NULL CHECK (price BETWEEN 0 AND 10000000)
);
CREATE INDEX concert_schedules_by_concert ON concert_schedules (concert_id, id);

-- A reservation: the seats one hold took, and what became of it. status HELD with expires_at <= now()
-- is EXPIRED for everyone who reads it (the sweeper writes EXPIRED later, to tidy).
CREATE TABLE seat_reservations (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  schedule_id    bigint NOT NULL REFERENCES concert_schedules (id),
  user_id        bigint NOT NULL REFERENCES users (id),
  seats          integer[] NOT NULL CHECK (cardinality(seats) BETWEEN 1 AND 4),
  total          bigint NOT NULL CHECK (total >= 0),
  status         text NOT NULL CHECK (status IN ('HELD', 'PAID', 'EXPIRED', 'CANCELLED')),
  created_at     timestamptz NOT NULL DEFAULT now(),
  expires_at     timestamptz NOT NULL,
  paid_at        timestamptz,
  balance_after  bigint,
  ended_at       timestamptz,
  CHECK ((status = 'PAID') = (paid_at IS NOT NULL))
);
CREATE INDEX seat_reservations_by_user ON seat_reservations (user_id, id);
CREATE INDEX seat_reservations_held ON seat_reservations (expires_at) WHERE status = 'HELD';

-- One row per seat of a schedule, created with the schedule. The row IS the seat's one hold.
CREATE TABLE schedule_seats (
  schedule_id      bigint NOT NULL REFERENCES concert_schedules (id),
  seat_number      integer NOT NULL CHECK (seat_number >= 1),
  status           text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'HELD', 'SOLD')),
  reservation_id   bigint REFERENCES seat_reservations (id),
  holder_id        bigint,
  hold_expires_at  timestamptz,
  PRIMARY KEY (schedule_id, seat_number),
  CHECK (
    (status = 'AVAILABLE' AND reservation_id IS NULL AND holder_id IS NULL AND hold_expires_at IS NULL)
    OR (status = 'HELD' AND reservation_id IS NOT NULL AND holder_id IS NOT NULL AND hold_expires_at IS NOT NULL)
    OR (status = 'SOLD' AND reservation_id IS NOT NULL AND holder_id IS NOT NULL AND hold_expires_at IS NULL)
  )
);
CREATE INDEX schedule_seats_by_reservation ON schedule_seats (reservation_id) WHERE reservation_id IS NOT NULL;
CREATE INDEX schedule_seats_by_holder ON schedule_seats (schedule_id, holder_id) WHERE status = 'HELD';

-- Every sale, written in the pay transaction. Invariant 2 (no duplicate): a seat is sold once.
CREATE TABLE sold_seats (
  schedule_id     bigint NOT NULL REFERENCES concert_schedules (id),
  seat_number     integer NOT NULL,
  reservation_id  bigint NOT NULL REFERENCES seat_reservations (id),
  user_id         bigint NOT NULL REFERENCES users (id),
  sold_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT sold_seats_once UNIQUE (schedule_id, seat_number)
);

ALTER TABLE outbox DROP CONSTRAINT outbox_topic_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_topic_check CHECK (topic IN (
  'order.paid', 'coupon.issued', 'reservation.held', 'reservation.paid', 'reservation.expired'));

-- hold_seats_batch: one schedule's share of a group-commit batch of holds, decided and written in
-- ONE round trip.
--
-- Owner: ConcertsRepository.holdBatch (src/modules/concerts/repository.ts) and .holdOne (inside an
-- Idempotency-Key transaction) are its only callers. To change it, add a new numbered migration
-- with CREATE OR REPLACE FUNCTION and change the repository in the same commit.
--
-- Inputs: the schedule; the requesting users in arrival order (repeats allowed); p_seats, a jsonb
-- array with one array of seat numbers per user (1..4 distinct numbers, checked by the caller);
-- the hold's length in seconds.
-- Output: one row per request (ord = its 1-based position), or a single row with ord 0 and outcome
-- NOT_FOUND when the schedule does not exist (nothing written):
--   HELD              reservation_id, expires_at, total, seats (ascending)
--   HOLD_LIMIT        the user's live held seats in the schedule plus these would exceed 4; seats NULL
--   SEAT_UNAVAILABLE  seats = the requested seats that are sold, held by a live hold, or do not exist
--
-- Exactness, whatever the gate believed:
--   * the schedule row is locked first (FOR NO KEY UPDATE): holds of one schedule serialise, so the
--     count of a user's live held seats cannot race (pay and cancel only lower it). Not FOR UPDATE:
--     a pay's sold_seats insert takes the schedule's KEY SHARE lock (its foreign key) while holding
--     seat rows, and FOR UPDATE would make that wait on a hold that waits on those seats;
--   * the requested seat rows are locked in ascending order before they are judged, and are written
--     only when every one of them is AVAILABLE or held by an expired hold: all or none;
--   * each request is judged after the previous one's writes (statements of a volatile function at
--     READ COMMITTED see them), so one batch can never give a seat twice;
--   * the reservation row, the seat rows and one 'reservation.held' outbox event commit together.
CREATE FUNCTION hold_seats_batch(p_schedule_id bigint, p_user_ids bigint[], p_seats jsonb, p_hold_seconds integer)
RETURNS TABLE (ord integer, outcome text, reservation_id bigint, expires_at timestamptz, total bigint, seats integer[])
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
  v_price bigint;
  v_concert bigint;
  v_expires timestamptz;
  v_seats integer[];
  v_free integer[];
  v_missing integer[];
  v_held integer;
  v_res bigint;
  v_written integer;
BEGIN
  SELECT s.price, s.concert_id INTO v_price, v_concert
  FROM concert_schedules s WHERE s.id = p_schedule_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 0, 'NOT_FOUND'::text, NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::integer[];
    RETURN;
  END IF;
  v_expires := now() + make_interval(secs => p_hold_seconds);

  FOR i IN 1 .. coalesce(array_length(p_user_ids, 1), 0) LOOP
    SELECT array_agg(DISTINCT x::integer ORDER BY x::integer) INTO v_seats
    FROM jsonb_array_elements_text(p_seats -> (i - 1)) AS t(x);

    SELECT count(*) INTO v_held FROM schedule_seats ss
    WHERE ss.schedule_id = p_schedule_id AND ss.holder_id = p_user_ids[i]
      AND ss.status = 'HELD' AND ss.hold_expires_at > now();
    IF v_held + cardinality(v_seats) > 4 THEN
      RETURN QUERY SELECT i, 'HOLD_LIMIT'::text, NULL::bigint, NULL::timestamptz, NULL::bigint, NULL::integer[];
      CONTINUE;
    END IF;

    -- Lock the requested seats in ascending order, then judge them.
    SELECT coalesce(array_agg(l.seat_number ORDER BY l.seat_number) FILTER (WHERE l.free), '{}')
    INTO v_free
    FROM (
      SELECT ss.seat_number,
             (ss.status = 'AVAILABLE' OR (ss.status = 'HELD' AND ss.hold_expires_at <= now())) AS free
      FROM schedule_seats ss
      WHERE ss.schedule_id = p_schedule_id AND ss.seat_number = ANY (v_seats)
      ORDER BY ss.seat_number
      FOR UPDATE
    ) l;
    IF cardinality(v_free) < cardinality(v_seats) THEN
      SELECT array_agg(x ORDER BY x) INTO v_missing FROM unnest(v_seats) AS x WHERE NOT (x = ANY (v_free));
      RETURN QUERY SELECT i, 'SEAT_UNAVAILABLE'::text, NULL::bigint, NULL::timestamptz, NULL::bigint, v_missing;
      CONTINUE;
    END IF;

    INSERT INTO seat_reservations (schedule_id, user_id, seats, total, status, expires_at)
    VALUES (p_schedule_id, p_user_ids[i], v_seats, v_price * cardinality(v_seats), 'HELD', v_expires)
    RETURNING seat_reservations.id INTO v_res;

    UPDATE schedule_seats ss
    SET status = 'HELD', reservation_id = v_res, holder_id = p_user_ids[i], hold_expires_at = v_expires
    WHERE ss.schedule_id = p_schedule_id AND ss.seat_number = ANY (v_seats)
      AND (ss.status = 'AVAILABLE' OR (ss.status = 'HELD' AND ss.hold_expires_at <= now()));
    GET DIAGNOSTICS v_written = ROW_COUNT;
    IF v_written <> cardinality(v_seats) THEN
      -- Unreachable while the rows stay locked; never leave a partial hold.
      RAISE EXCEPTION 'hold_seats_batch: % of % seats written', v_written, cardinality(v_seats);
    END IF;

    INSERT INTO outbox (topic, user_id, payload)
    VALUES ('reservation.held', p_user_ids[i], jsonb_build_object(
      'reservationId', v_res::text, 'concertId', v_concert::text, 'scheduleId', p_schedule_id::text,
      'userId', p_user_ids[i]::text, 'seats', to_jsonb(v_seats), 'total', v_price * cardinality(v_seats),
      'expiresAt', v_expires));

    RETURN QUERY SELECT i, 'HELD'::text, v_res, v_expires, v_price * cardinality(v_seats), v_seats;
  END LOOP;
END
$$;

-- Down Migration
DROP FUNCTION hold_seats_batch(bigint, bigint[], jsonb, integer);
ALTER TABLE outbox DROP CONSTRAINT outbox_topic_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_topic_check CHECK (topic IN ('order.paid', 'coupon.issued'));
DROP TABLE sold_seats;
DROP TABLE schedule_seats;
DROP TABLE seat_reservations;
DROP TABLE concert_schedules;
DROP TABLE concerts;
