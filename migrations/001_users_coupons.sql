-- Up Migration
-- Users and FCFS coupon drops. PostgreSQL is the system of record: the gate in front of it
-- (memory or Redis) is a shield, and the constraints below are the last line of defence.

CREATE TABLE users (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE coupons (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name            text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
  discount_type   text NOT NULL CHECK (discount_type IN ('AMOUNT', 'PERCENT')),
  discount_value  integer NOT NULL CHECK (discount_value > 0),
  quantity        integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000000),
  -- Maintained in the same transaction as every user_coupons insert (invariant 1: no oversell).
  issued_count    integer NOT NULL DEFAULT 0,
  starts_at       timestamptz NOT NULL DEFAULT now(),
  ends_at         timestamptz,
  valid_days      integer CHECK (valid_days IS NULL OR valid_days BETWEEN 1 AND 3650),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (issued_count BETWEEN 0 AND quantity),
  CHECK (ends_at IS NULL OR ends_at > starts_at),
  CHECK (discount_type <> 'PERCENT' OR discount_value <= 100)
);

CREATE TABLE user_coupons (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  coupon_id   bigint NOT NULL REFERENCES coupons (id),
  user_id     bigint NOT NULL REFERENCES users (id),
  status      text NOT NULL DEFAULT 'AVAILABLE' CHECK (status IN ('AVAILABLE', 'USED')),
  issued_at   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  used_at     timestamptz,
  -- Invariant 2 (no duplicate): one user holds a given coupon at most once.
  CONSTRAINT user_coupons_one_per_user UNIQUE (coupon_id, user_id)
);
CREATE INDEX user_coupons_by_user ON user_coupons (user_id, id);

-- Down Migration
DROP TABLE user_coupons;
DROP TABLE coupons;
DROP TABLE users;
