-- 007_subflows: a session started by a `call` node of another session runs
-- the called workflow as a sub-flow; parent_id links it to its caller.
ALTER TABLE workflow_sessions ADD COLUMN parent_id BIGINT;
CREATE INDEX workflow_sessions_parent ON workflow_sessions(parent_id);
