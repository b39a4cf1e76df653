-- 011_intent: routing by learned intent. Per client: the confidence above
-- which a prediction sets the category, the queue for the rest, and a map
-- category -> queue. intent_examples is the numbered log of resolved
-- interactions with their final category (what the models learn from;
-- numbered under intent_head's row lock so numbers follow commit order);
-- intent_predictions keeps each prediction and, once resolved, whether it
-- was right.
ALTER TABLE clients ADD COLUMN intent_threshold DOUBLE PRECISION NOT NULL DEFAULT 0.6;
ALTER TABLE clients ADD COLUMN triage_queue TEXT NOT NULL DEFAULT 'triage';
ALTER TABLE clients ADD COLUMN intent_routes TEXT NOT NULL DEFAULT '{}';

CREATE TABLE intent_examples (
  seq BIGINT PRIMARY KEY,
  client_id BIGINT NOT NULL,
  interaction_id BIGINT NOT NULL,
  category TEXT NOT NULL,
  text TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE TABLE intent_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL
);
INSERT INTO intent_head (id, seq) VALUES (1, 0);

CREATE TABLE intent_predictions (
  interaction_id BIGINT PRIMARY KEY REFERENCES interactions(id),
  client_id BIGINT NOT NULL REFERENCES clients(id),
  category TEXT NOT NULL,
  confidence DOUBLE PRECISION NOT NULL,
  applied INTEGER NOT NULL,
  at BIGINT NOT NULL,
  final_category TEXT,
  correct INTEGER
);
CREATE INDEX intent_predictions_client ON intent_predictions(client_id);
