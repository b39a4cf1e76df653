-- 002_routing: queues with their routing configuration, and agents' live
-- state. Configuration that the routing engine reads whole is kept as JSON
-- text (priority points, widening steps, agent-choice order).

CREATE TABLE queues (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  name TEXT NOT NULL,
  priority_json TEXT NOT NULL,
  widening_json TEXT NOT NULL DEFAULT '[]',
  strategy_json TEXT NOT NULL,
  overflow_after_s INTEGER NOT NULL DEFAULT 0,
  overflow_queue_id BIGINT REFERENCES queues(id),
  offer_timeout_s INTEGER NOT NULL DEFAULT 20,
  max_missed INTEGER NOT NULL DEFAULT 3,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (client_id, name)
);

CREATE TABLE agent_status (
  user_id BIGINT PRIMARY KEY REFERENCES users(id),
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  since BIGINT NOT NULL,
  wrapup_until BIGINT
);
