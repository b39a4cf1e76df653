-- 005_workflows: guided workflows. A workflow has an editable draft and
-- immutable published versions; a session runs one pinned version on one
-- interaction and keeps its whole state (current node, answers, history).

CREATE TABLE workflows (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  wkey TEXT NOT NULL,
  title TEXT NOT NULL DEFAULT '',
  draft TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (client_id, wkey)
);

CREATE TABLE workflow_versions (
  id @ID@,
  workflow_id BIGINT NOT NULL REFERENCES workflows(id),
  client_id BIGINT NOT NULL REFERENCES clients(id),
  version INTEGER NOT NULL,
  document TEXT NOT NULL,
  published_at BIGINT NOT NULL,
  published_by BIGINT NOT NULL,
  UNIQUE (workflow_id, version)
);

CREATE TABLE workflow_sessions (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  version_id BIGINT NOT NULL REFERENCES workflow_versions(id),
  state TEXT NOT NULL,
  status TEXT NOT NULL,
  outcome TEXT,
  started_by BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX workflow_sessions_interaction ON workflow_sessions(interaction_id, id);
CREATE INDEX workflow_sessions_version ON workflow_sessions(version_id, id);
