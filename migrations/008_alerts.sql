-- Up Migration
-- Alerts of the live operations view (src/modules/live): the rules an operator set (none stored =
-- the built-in defaults), and every alert that fired, with when it resolved and whether the alert
-- webhook was told. At most one alert per rule is FIRING at a time.

CREATE TABLE alert_rules (
  id text PRIMARY KEY,
  position int NOT NULL,
  rule jsonb NOT NULL
);

CREATE TABLE alerts (
  id bigserial PRIMARY KEY,
  rule text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('page', 'ticket')),
  state text NOT NULL CHECK (state IN ('FIRING', 'RESOLVED')),
  started_at timestamptz NOT NULL DEFAULT now(),
  resolved_at timestamptz,
  value double precision NOT NULL,
  threshold double precision NOT NULL,
  detail text NOT NULL,
  -- The alert webhook: when it was told of the firing and of the resolution; retries in between.
  fired_sent_at timestamptz,
  resolved_sent_at timestamptz,
  send_attempts int NOT NULL DEFAULT 0,
  send_next_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'RESOLVED') = (resolved_at IS NOT NULL))
);
CREATE UNIQUE INDEX alerts_one_firing_per_rule ON alerts (rule) WHERE state = 'FIRING';
CREATE INDEX alerts_newest ON alerts (id DESC);
CREATE INDEX alerts_to_send ON alerts (send_next_at)
  WHERE fired_sent_at IS NULL OR (state = 'RESOLVED' AND resolved_sent_at IS NULL);

-- Down Migration
DROP TABLE alerts;
DROP TABLE alert_rules;
