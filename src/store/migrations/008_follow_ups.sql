-- 008_follow_ups: follow-ups scheduled on an interaction, by an agent or by
-- a guided workflow's follow_up action.
CREATE TABLE follow_ups (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  due_at BIGINT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'scheduled',
  session_id BIGINT,
  created_by BIGINT,
  created_at BIGINT NOT NULL
);
CREATE INDEX follow_ups_interaction ON follow_ups(interaction_id, id);
CREATE INDEX follow_ups_due ON follow_ups(client_id, status, due_at);
