-- 016_imap: polling a client's mailbox by IMAP. mail_settings gains where
-- the mailbox is (imap_url, imap_user, imap_password sealed with the key
-- file), what is done to a message once it is stored (imap_after: seen or
-- move, imap_move_to) and how often it is polled. imap_state is one row per
-- polled mailbox: the UIDVALIDITY and the last UID whose message is stored
-- and marked, the lease of the server polling it now, when it is due, and
-- what the last poll did.
ALTER TABLE mail_settings ADD COLUMN imap_url TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN imap_user TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN imap_password TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN imap_after TEXT NOT NULL DEFAULT 'seen';
ALTER TABLE mail_settings ADD COLUMN imap_move_to TEXT NOT NULL DEFAULT '';
ALTER TABLE mail_settings ADD COLUMN imap_poll_seconds INTEGER NOT NULL DEFAULT 60;

CREATE TABLE imap_state (
  client_id BIGINT PRIMARY KEY REFERENCES clients(id),
  url TEXT NOT NULL DEFAULT '',
  uidvalidity BIGINT NOT NULL DEFAULT 0,
  last_uid BIGINT NOT NULL DEFAULT 0,
  next_poll_at BIGINT NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until BIGINT NOT NULL DEFAULT 0,
  last_poll_at BIGINT,
  last_error TEXT NOT NULL DEFAULT '',
  fetched BIGINT NOT NULL DEFAULT 0,
  duplicates BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX imap_state_due ON imap_state (next_poll_at);
