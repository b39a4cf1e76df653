-- 015_sla: business calendars, SLA policies and the clocks they start.
-- clients.calendar: the client's calendar (JSON, docs/sla.md), "24/7" by
-- default. sla_policies: ordered per client; the first whose conditions
-- match an interaction applies. sla_clocks: one per interaction and target
-- (first_response, next_response, periodic_update, resolution): elapsed
-- time before the running stretch, when that stretch began, and the due and
-- warning instants while running; the indexes are the scheduler's queue.
ALTER TABLE clients ADD COLUMN calendar TEXT NOT NULL DEFAULT '"24/7"';

CREATE TABLE sla_policies (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  name TEXT NOT NULL,
  position INTEGER NOT NULL DEFAULT 0,
  conditions TEXT NOT NULL DEFAULT '{}',
  targets TEXT NOT NULL DEFAULT '{}',
  warn_share DOUBLE PRECISION NOT NULL DEFAULT 0.8,
  active INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX sla_policies_client ON sla_policies(client_id, position, id);

CREATE TABLE sla_clocks (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  policy_id BIGINT NOT NULL,
  policy_version INTEGER NOT NULL,
  target TEXT NOT NULL,
  business INTEGER NOT NULL,
  target_ms BIGINT NOT NULL,
  warn_share DOUBLE PRECISION NOT NULL,
  state TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  elapsed_ms BIGINT NOT NULL DEFAULT 0,
  running_since BIGINT,
  due_at BIGINT,
  warn_at BIGINT,
  warned INTEGER NOT NULL DEFAULT 0,
  breached_at BIGINT,
  fulfilled_at BIGINT,
  UNIQUE (interaction_id, target)
);
CREATE INDEX sla_clocks_due ON sla_clocks(state, due_at);
CREATE INDEX sla_clocks_warn ON sla_clocks(state, warned, warn_at);
CREATE INDEX sla_clocks_client ON sla_clocks(client_id, target, started_at);
