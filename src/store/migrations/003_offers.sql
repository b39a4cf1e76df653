-- 003_offers: what routing needs in the store. Interactions gain required
-- skills and a preferred agent; offers record every offer and its outcome
-- (the database decides each outcome exactly once); routing_events is the
-- outbox the router reads, numbered under a row lock so numbers follow
-- commit order; router_lease names the one server that routes at a time.

ALTER TABLE interactions ADD COLUMN required_skills TEXT NOT NULL DEFAULT '[]';
ALTER TABLE interactions ADD COLUMN preferred_agent_id BIGINT;

CREATE TABLE offers (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  agent_id BIGINT NOT NULL REFERENCES users(id),
  offered_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  outcome TEXT,
  decided_at BIGINT,
  finished_at BIGINT
);
-- At most one pending offer, and one accepted unfinished one, per interaction.
CREATE UNIQUE INDEX offers_one_pending ON offers(interaction_id) WHERE outcome IS NULL;
CREATE UNIQUE INDEX offers_one_active ON offers(interaction_id)
  WHERE outcome = 'accepted' AND finished_at IS NULL;
CREATE INDEX offers_agent ON offers(agent_id, id);
CREATE INDEX offers_pending_expiry ON offers(expires_at) WHERE outcome IS NULL;

CREATE TABLE routing_events (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  client_id BIGINT NOT NULL,
  subject_id BIGINT NOT NULL,
  agent_id BIGINT NOT NULL DEFAULT 0,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE routing_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL
);
INSERT INTO routing_head (id, seq) VALUES (1, 0);

CREATE TABLE router_lease (
  id INTEGER PRIMARY KEY,
  holder TEXT NOT NULL,
  until_ms BIGINT NOT NULL,
  epoch BIGINT NOT NULL
);
INSERT INTO router_lease (id, holder, until_ms, epoch) VALUES (1, '', 0, 0);
