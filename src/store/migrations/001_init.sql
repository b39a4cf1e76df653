-- 001_init: the first cut of the domain. Portable SQL for SQLite and
-- PostgreSQL; @ID@ is the backend's auto-increment 64-bit primary key.
-- Timestamps are UTC epoch milliseconds. Booleans are integers 0/1.

CREATE TABLE clients (
  id @ID@,
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  brand_display_name TEXT NOT NULL,
  brand_from_address TEXT NOT NULL DEFAULT '',
  brand_signature TEXT NOT NULL DEFAULT '',
  brand_tone_notes TEXT NOT NULL DEFAULT '',
  timezone TEXT NOT NULL DEFAULT 'UTC',
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE users (
  id @ID@,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT,
  active INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE memberships (
  user_id BIGINT NOT NULL REFERENCES users(id),
  client_id BIGINT NOT NULL REFERENCES clients(id),
  PRIMARY KEY (user_id, client_id)
);
CREATE INDEX memberships_client ON memberships(client_id);

CREATE TABLE skills (
  user_id BIGINT NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  proficiency INTEGER NOT NULL,
  PRIMARY KEY (user_id, name)
);

CREATE TABLE customers (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  name TEXT NOT NULL DEFAULT '',
  tier TEXT NOT NULL DEFAULT 'standard',
  locale TEXT,
  timezone TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX customers_client ON customers(client_id, id);

CREATE TABLE identities (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  customer_id BIGINT NOT NULL REFERENCES customers(id),
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (client_id, kind, value)
);
CREATE INDEX identities_customer ON identities(customer_id);

CREATE TABLE interactions (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  customer_id BIGINT REFERENCES customers(id),
  channel TEXT NOT NULL,
  status TEXT NOT NULL,
  priority TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT 'default',
  assignee_id BIGINT REFERENCES users(id),
  category TEXT,
  tags TEXT NOT NULL DEFAULT '[]',
  custom_fields TEXT NOT NULL DEFAULT '{}',
  version INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX interactions_client ON interactions(client_id, id);
CREATE INDEX interactions_customer ON interactions(customer_id, id);
CREATE INDEX interactions_updated ON interactions(client_id, updated_at);

CREATE TABLE interaction_tags (
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  tag TEXT NOT NULL,
  PRIMARY KEY (interaction_id, tag)
);
CREATE INDEX interaction_tags_tag ON interaction_tags(tag, interaction_id);

CREATE TABLE messages (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  direction TEXT NOT NULL,
  body TEXT NOT NULL,
  author_id BIGINT REFERENCES users(id),
  created_at BIGINT NOT NULL
);
CREATE INDEX messages_interaction ON messages(interaction_id, id);

-- Append-only: every change to an interaction, with actor, time, before, after.
CREATE TABLE events (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT NOT NULL REFERENCES interactions(id),
  actor_id BIGINT,
  at BIGINT NOT NULL,
  kind TEXT NOT NULL,
  before_json TEXT,
  after_json TEXT
);
CREATE INDEX events_interaction ON events(interaction_id, id);

-- Hash-chained audit log; audit_head holds the chain's tip and serialises
-- appends (its one row is updated inside every appending transaction).
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  actor_id BIGINT NOT NULL,
  action TEXT NOT NULL,
  entity TEXT NOT NULL,
  entity_id BIGINT NOT NULL,
  client_id BIGINT NOT NULL,
  detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id),
  csrf_token TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
  id @ID@,
  user_id BIGINT NOT NULL REFERENCES users(id),
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);

CREATE TABLE idempotency (
  user_id BIGINT NOT NULL,
  idem_key TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (user_id, idem_key)
);

CREATE TABLE login_failures (
  id @ID@,
  account TEXT NOT NULL,
  address TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX login_failures_account ON login_failures(account, at);
CREATE INDEX login_failures_address ON login_failures(address, at);
