-- Up Migration
-- Run tags: the rows a rehearsal created (the drill tags everything it makes with its run's tag), so
-- they can be told apart from real traffic and removed afterwards (DELETE /api/v1/admin/runs/:runTag,
-- src/modules/runs). NULL = a real row. A tag is set at creation and never changes.
--
-- Which rows carry a tag: users, products, coupons and waiting rooms (the admin create endpoints
-- take an optional runTag). Everything a tagged user owns (orders and their lines, user coupons,
-- ledger and wallet, idempotency keys, notifications, outbox events, waiting-room entries and
-- admissions, seat reservations) belongs to the run through that user, so it needs no column.
-- Best sellers leave out orders of tagged users and lines of tagged products by default.
--
-- The same rule as the API's RunTag: 1..64 characters, letters, digits, '.', '_' and '-', starting
-- with a letter or a digit.

ALTER TABLE users ADD COLUMN run_tag text
  CONSTRAINT users_run_tag_format CHECK (run_tag ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
ALTER TABLE products ADD COLUMN run_tag text
  CONSTRAINT products_run_tag_format CHECK (run_tag ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
ALTER TABLE coupons ADD COLUMN run_tag text
  CONSTRAINT coupons_run_tag_format CHECK (run_tag ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
ALTER TABLE waiting_rooms ADD COLUMN run_tag text
  CONSTRAINT waiting_rooms_run_tag_format CHECK (run_tag ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');

-- Partial: real rows (run_tag IS NULL) are most of the data and are never looked up by tag.
CREATE INDEX users_by_run_tag ON users (run_tag) WHERE run_tag IS NOT NULL;
CREATE INDEX products_by_run_tag ON products (run_tag) WHERE run_tag IS NOT NULL;
CREATE INDEX coupons_by_run_tag ON coupons (run_tag) WHERE run_tag IS NOT NULL;
CREATE INDEX waiting_rooms_by_run_tag ON waiting_rooms (run_tag) WHERE run_tag IS NOT NULL;

-- The run deletion finds the coupons in front of a tagged room by this (a tagged coupon's holders
-- are found by user_coupons_one_per_user, whose first column is coupon_id). It reads the outbox,
-- waiting-room entries and admissions by user without an index, on purpose: an index there would
-- cost every order, issue and join, to speed up a rare admin operation.
CREATE INDEX coupons_by_waiting_room ON coupons (waiting_room_id) WHERE waiting_room_id IS NOT NULL;

-- Down Migration
DROP INDEX coupons_by_waiting_room;
DROP INDEX waiting_rooms_by_run_tag;
DROP INDEX coupons_by_run_tag;
DROP INDEX products_by_run_tag;
DROP INDEX users_by_run_tag;
ALTER TABLE waiting_rooms DROP COLUMN run_tag;
ALTER TABLE coupons DROP COLUMN run_tag;
ALTER TABLE products DROP COLUMN run_tag;
ALTER TABLE users DROP COLUMN run_tag;
