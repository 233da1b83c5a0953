-- The event store: one row per event, appended in one INSERT ... SELECT FROM unnest statement per command.
--
-- Concurrency is checked by the unique (stream_id, version) constraint; there is no streams table to update and no
-- NOTIFY inside the appending transaction, so nothing global is locked on the write path.
--
-- tx_id records the writing transaction. Subscribers read in (tx_id, position) order and only rows whose tx_id is
-- below the xmin of the current snapshot: every transaction that commits later has a tx_id at or above that
-- horizon, so a checkpoint taken below it never skips an event that becomes visible afterwards.
CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY,
    tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid NOT NULL,
    stream_id       uuid NOT NULL,
    version         bigint NOT NULL CHECK (version > 0),
    -- Index of the event within the command that appended it (0 for the first).
    command_index   integer NOT NULL CHECK (command_index >= 0),
    event_type      text NOT NULL,
    schema_version  integer NOT NULL,
    data            jsonb NOT NULL,
    tenant_id       text NOT NULL,
    merchant_id     text NOT NULL,
    store_id        text,
    terminal_id     text,
    correlation_id  uuid NOT NULL,
    causation_id    uuid,
    actor           text NOT NULL,
    -- The command's idempotency key, stored on every event of that command.
    idempotency_key text,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_pkey PRIMARY KEY (position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_tx_position_idx ON events (tx_id, position);

-- One command per idempotency key and stream: the first event of a command carries the uniqueness.
CREATE UNIQUE INDEX events_idempotency_key ON events (stream_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL AND command_index = 0;

-- Durable checkpoints of catch-up subscriptions: the (tx_id, position) of the last event processed.
CREATE TABLE subscriptions (
    name       text PRIMARY KEY,
    tx_id      xid8 NOT NULL DEFAULT '0',
    position   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
