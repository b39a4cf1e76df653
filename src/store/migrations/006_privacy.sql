-- 006_privacy: per-client data protection and sentiment settings, customer
-- fields encrypted at rest, and the sentiment of messages and interactions.
--
-- clients.sensitive_fields: JSON array of the customer field names the client
-- marks sensitive. customers.sensitive: JSON object field -> sealed value
-- ("v1:<key id>:<base64 nonce and ciphertext>"), never the clear text.
ALTER TABLE clients ADD COLUMN redact_emails INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN redact_phones INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN sensitive_fields TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN sentiment_alert_below DOUBLE PRECISION NOT NULL DEFAULT -0.5;
ALTER TABLE customers ADD COLUMN sensitive TEXT NOT NULL DEFAULT '{}';
ALTER TABLE messages ADD COLUMN sentiment DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN sentiment_start DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN sentiment_end DOUBLE PRECISION;
ALTER TABLE interactions ADD COLUMN sentiment_low DOUBLE PRECISION;
