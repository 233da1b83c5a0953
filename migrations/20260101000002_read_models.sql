-- Read models fed by the `invoices` projection (store_pg::InvoiceProjection). Every column is a function of the
-- invoice's events (business times, positions), never of the clock at projection time, so a rebuild from the
-- first event reproduces the rows exactly.

-- One row per invoice: the folded invoice state as the API and operators see it.
CREATE TABLE invoice_view (
    invoice_id        uuid PRIMARY KEY,          -- the stream id
    tenant_id         text NOT NULL,
    merchant_id       text NOT NULL,
    store_id          text NOT NULL,
    terminal_id       text NOT NULL,
    status            text NOT NULL,             -- domain::InvoiceStatus, snake_case
    seqr_status       text,                      -- last observed SEQR status (wire name)
    currency          text NOT NULL,             -- ISO-4217
    total             numeric NOT NULL,
    reserved_amount   numeric,
    committed_amount  numeric,
    paid_amount       numeric,
    refunded_amount   numeric NOT NULL,
    invoice_reference text,                      -- SEQR invoiceReference
    qr_code           text,
    ers_reference     text,                      -- the payment's ERS reference
    invoice_version   integer NOT NULL,          -- last observed SEQR invoice version
    client_invoice_id text,
    tokens            jsonb NOT NULL,            -- tokens sent with the invoice / last update
    issued_at         timestamptz NOT NULL,
    paid_at           timestamptz,
    updated_at        timestamptz NOT NULL,      -- business time of the last event
    stream_version    bigint NOT NULL,
    last_position     bigint NOT NULL
);

CREATE INDEX invoice_view_scope_idx ON invoice_view (tenant_id, merchant_id, store_id, terminal_id, issued_at);
CREATE INDEX invoice_view_reference_idx ON invoice_view (invoice_reference) WHERE invoice_reference IS NOT NULL;

-- One row per money movement, keyed by the event that caused it (re-delivery is idempotent). Amounts are signed:
-- payments positive, refunds negative, so sum(amount) is the net takings.
CREATE TABLE ledger (
    event_id      uuid PRIMARY KEY,
    invoice_id    uuid NOT NULL,
    tenant_id     text NOT NULL,
    merchant_id   text NOT NULL,
    store_id      text NOT NULL,
    terminal_id   text NOT NULL,
    business_date date NOT NULL,                 -- UTC date of the event's business time
    at            timestamptz NOT NULL,          -- the event's business time
    kind          text NOT NULL CHECK (kind IN ('payment', 'refund')),
    amount        numeric NOT NULL,
    currency      text NOT NULL,
    ers_reference text,
    position      bigint NOT NULL
);

CREATE INDEX ledger_scope_date_idx ON ledger (tenant_id, merchant_id, store_id, terminal_id, business_date);
CREATE INDEX ledger_invoice_idx ON ledger (invoice_id);
