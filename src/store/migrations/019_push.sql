-- 019_push: what the routing server pushes on the live event streams (an
-- offer to an agent, a state change, a client's figures moved) is logged,
-- numbered under a row lock so numbers follow commit order, and every
-- server publishes the log to the streams connected to it: an agent or a
-- supervisor sees the same events whichever server they reached.
CREATE TABLE push_log (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  topic INTEGER NOT NULL,
  topic_key BIGINT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE TABLE push_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL
);
INSERT INTO push_head (id, seq) VALUES (1, 0);
