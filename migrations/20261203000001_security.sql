-- Security hardening (see docs/security.md).

-- An API key's public id: the actor recorded on the events its commands append, and the owner of its
-- Idempotency-Keys. No part of a key's secret is stored any more, only its SHA-256.
ALTER TABLE api_keys ADD COLUMN key_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE api_keys ADD CONSTRAINT api_keys_key_id_unique UNIQUE (key_id);
ALTER TABLE api_keys DROP COLUMN key_prefix;

-- An Idempotency-Key belongs to the API key that sent it, not to the tenant: a replay is answered only to the same
-- API key, so it passes exactly the authorization of the original. Records made before this migration cannot be
-- attributed to a key; they are short-lived replay state (the event log keeps every command), so they are dropped.
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD COLUMN api_key_id uuid NOT NULL REFERENCES api_keys (key_id);
ALTER TABLE idempotency_keys ADD PRIMARY KEY (api_key_id, idempotency_key);

-- When a SEQR notification last brought the invoice's poll forward: at most one per interval per invoice, so a
-- leaked token cannot drive SEQR calls.
ALTER TABLE notification_tokens ADD COLUMN woken_at timestamptz;
