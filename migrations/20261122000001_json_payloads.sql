-- Projection rebuilds read every payload and write every read-model row; two storage choices made both slow.
--
-- 1. Payloads are `json`: the exact text the writer serialized, validated on the way in. Nothing queries inside
--    payloads (read models are where queries go), while `jsonb` re-serialized every payload on every read: half
--    of the server's time reading the log.
ALTER TABLE events ALTER COLUMN data TYPE json USING data::json;

-- 2. Scope ids in read models compare byte-wise (COLLATE "C"): they are identifiers, not words, and the
--    database's locale-aware comparison made each insert into the scope indexes several times more expensive.
ALTER TABLE invoice_view
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN store_id TYPE text COLLATE "C",
    ALTER COLUMN terminal_id TYPE text COLLATE "C";
ALTER TABLE ledger
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN merchant_id TYPE text COLLATE "C",
    ALTER COLUMN store_id TYPE text COLLATE "C",
    ALTER COLUMN terminal_id TYPE text COLLATE "C";

-- No query looks invoices up by SEQR invoice reference (the service finds its invoices from the event log); an
-- index costs every projected row, so it comes back with the query that needs it.
DROP INDEX invoice_view_reference_idx;
