-- The process that owns an in-progress Idempotency-Key: it holds the session advisory lock
-- (PROCESS_LOCK_CLASS, owner_lock) while it lives, so a retry after its crash takes the key over at once.
ALTER TABLE idempotency_keys ADD COLUMN owner_lock integer;
