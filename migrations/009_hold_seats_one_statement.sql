-- Up Migration
-- hold_seats_batch takes its batch's seat locks itself, all of them in ascending order right after
-- the schedule's, so one hold batch is ONE statement: the group committer sends it without
-- BEGIN/COMMIT (a statement is its own transaction), one round trip instead of four (BEGIN, the
-- lock query the repository sent, the call, COMMIT). Everything else is as in migration 005, whose
-- comment above the function still describes it.

CREATE OR REPLACE FUNCTION hold_seats_batch(p_schedule_id bigint, p_user_ids bigint[], p_seats jsonb, p_hold_seconds integer)
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

  -- Every seat any request names, in ascending order, before any is judged: a batch never holds
  -- seat 20 while it waits for seat 1, which a pay (locking its seats in ascending order) may hold.
  PERFORM 1 FROM schedule_seats ss
  WHERE ss.schedule_id = p_schedule_id
    AND ss.seat_number IN (
      SELECT DISTINCT x::integer FROM jsonb_array_elements(p_seats) AS a(r), jsonb_array_elements_text(a.r) AS t(x))
  ORDER BY ss.seat_number
  FOR UPDATE;

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
CREATE OR REPLACE FUNCTION hold_seats_batch(p_schedule_id bigint, p_user_ids bigint[], p_seats jsonb, p_hold_seconds integer)
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
