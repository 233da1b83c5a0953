-- Service tables: tenants and their API keys, the SEQR credentials seqrd holds for each register, HTTP idempotency
-- keys, notification tokens, the leased work queue of invoices that need SEQR's attention, and live instances.
-- None of these is derived from the event log: they are configuration or coordination state.

CREATE TABLE tenants (
    tenant_id   text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys are stored as SHA-256 of the secret; the secret itself is shown once, at creation.
CREATE TABLE api_keys (
    key_hash    bytea PRIMARY KEY,
    key_prefix  text NOT NULL,
    tenant_id   text NOT NULL REFERENCES tenants (tenant_id),
    stores      text[],            -- NULL: every store of the tenant
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- A register (terminal) as seqrd knows it, with the SEQR credentials used on its behalf. Never returned by the API.
CREATE TABLE terminals (
    tenant_id         text NOT NULL REFERENCES tenants (tenant_id),
    terminal_id       text NOT NULL,
    merchant_id       text NOT NULL,
    store_id          text NOT NULL,
    seqr_terminal_id  text NOT NULL,
    seqr_password     text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, terminal_id)
);

-- Idempotency-Key semantics of the HTTP API (see README "Idempotency").
CREATE TABLE idempotency_keys (
    tenant_id        text NOT NULL,
    idempotency_key  text NOT NULL,
    request_hash     bytea NOT NULL,
    state            text NOT NULL CHECK (state IN ('in_progress', 'done')),
    response_status  integer,
    response_body    bytea,
    locked_until     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

-- The unguessable token in the notificationUrl seqrd hands SEQR, bound to one invoice.
CREATE TABLE notification_tokens (
    token       text PRIMARY KEY,
    invoice_id  uuid NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Invoices that need SEQR's attention (status polls, unknown outcomes, reservation deadlines), leased by workers
-- with FOR UPDATE SKIP LOCKED; a lease that is not released expires and another process takes the invoice.
CREATE TABLE poll_jobs (
    invoice_id   uuid PRIMARY KEY,
    due_at       timestamptz NOT NULL,
    interval_ms  integer NOT NULL,
    lease_owner  text,
    lease_until  timestamptz,
    polls        bigint NOT NULL DEFAULT 0,
    wake         boolean NOT NULL DEFAULT false,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX poll_jobs_due ON poll_jobs (due_at);

-- Live seqrd processes: the global SEQR rate budget is shared among them.
CREATE TABLE instances (
    instance_id  text PRIMARY KEY,
    seen_at      timestamptz NOT NULL
);
