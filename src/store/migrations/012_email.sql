-- 012_email: the email channel. Per client: its mail settings (the ticket
-- prefix of subject tokens, the attachment size limit, the automatic
-- acknowledgement). mail_blobs keeps raw messages and attachments
-- content-addressed (SHA-256 of the bytes) per client; mail_messages is
-- every message received or sent by email, with the headers threading
-- needs, unique by Message-ID per client (a message delivered twice is
-- stored once), and doubles as the outbox: outbound rows are queued,
-- claimed under a lease by one sender, and end sent or failed.
CREATE TABLE mail_settings (
  client_id BIGINT PRIMARY KEY REFERENCES clients(id),
  ticket_prefix TEXT NOT NULL DEFAULT '',
  max_attachment_bytes BIGINT NOT NULL DEFAULT 10485760,
  auto_ack INTEGER NOT NULL DEFAULT 0,
  auto_ack_text TEXT NOT NULL DEFAULT '',
  auto_ack_per_hour INTEGER NOT NULL DEFAULT 3,
  smtp_url TEXT NOT NULL DEFAULT '',
  updated_at BIGINT NOT NULL
);

CREATE TABLE mail_blobs (
  client_id BIGINT NOT NULL REFERENCES clients(id),
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  content TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (client_id, sha256)
);

CREATE TABLE mail_messages (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  interaction_id BIGINT REFERENCES interactions(id),
  message_id BIGINT REFERENCES messages(id),
  direction TEXT NOT NULL,
  kind TEXT NOT NULL,
  rfc_message_id TEXT NOT NULL,
  in_reply_to TEXT NOT NULL DEFAULT '',
  refs TEXT NOT NULL DEFAULT '',
  from_addr TEXT NOT NULL DEFAULT '',
  to_addr TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  quoted TEXT NOT NULL DEFAULT '',
  raw_sha256 TEXT,
  degraded INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  sent_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mail_messages_rfc ON mail_messages (client_id, rfc_message_id);
CREATE INDEX mail_messages_interaction ON mail_messages (interaction_id);
CREATE INDEX mail_messages_outbox ON mail_messages (status, next_attempt_at);
CREATE INDEX mail_messages_to ON mail_messages (client_id, to_addr, kind, created_at);

CREATE TABLE mail_attachments (
  id @ID@,
  client_id BIGINT NOT NULL REFERENCES clients(id),
  mail_id BIGINT NOT NULL REFERENCES mail_messages(id),
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  size BIGINT NOT NULL,
  sha256 TEXT,
  is_inline INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mail_attachments_mail ON mail_attachments (mail_id);
