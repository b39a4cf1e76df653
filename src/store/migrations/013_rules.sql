-- 013_rules: automation and escalation rules per client, and the webhook
-- outbox. A rule fires on an event of an interaction when its condition (an
-- expression of the guided-workflow language) holds, and applies its
-- actions; each firing is in the interaction's event log with the rule's id
-- and version. Webhooks (from rules and workflows) wait in the outbox until
-- a server delivers them; a delivery is claimed with a lease so one server
-- sends it, and retried with backoff.
CREATE TABLE rules (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  name TEXT NOT NULL,
  event TEXT NOT NULL,
  condition_text TEXT NOT NULL DEFAULT '',
  actions TEXT NOT NULL DEFAULT '[]',
  idle_minutes INTEGER NOT NULL DEFAULT 0,
  position INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1,
  version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX rules_client_event ON rules(client_id, event, position, id);

CREATE TABLE webhook_deliveries (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT,
  url TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at BIGINT NOT NULL,
  last_error TEXT NOT NULL DEFAULT '',
  claimed_by TEXT NOT NULL DEFAULT '',
  claimed_until BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  sent_at BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_at);
CREATE INDEX webhook_deliveries_interaction ON webhook_deliveries(interaction_id, id);
