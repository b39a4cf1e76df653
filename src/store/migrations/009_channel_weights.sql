-- 009_channel_weights: an agent's capacity units per item on each channel
-- (JSON object channel -> units out of 60; channels not named keep the
-- routing engine's defaults).
ALTER TABLE users ADD COLUMN channel_weights TEXT NOT NULL DEFAULT '{}';
