-- Calls (one converged row per call) and their event timeline (one row per event id).
-- depends:

CREATE TABLE calls (
    call_id          text PRIMARY KEY,
    tenant_id        text        NOT NULL,
    provider         text        NOT NULL,
    account_id       text,
    status           text        NOT NULL,
    status_rank      smallint    NOT NULL,
    sequence_number  integer,
    direction        text,
    from_number      text,
    to_number        text,
    duration_s       integer,
    answered_by      text,
    first_event_at   timestamptz NOT NULL,
    last_event_at    timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_tenant_time ON calls (tenant_id, first_event_at DESC);

CREATE TABLE call_events (
    event_id         uuid PRIMARY KEY,
    tenant_id        text        NOT NULL,
    call_id          text        NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL,
    sequence_number  integer,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    data             jsonb       NOT NULL
);
CREATE INDEX call_events_call ON call_events (call_id, occurred_at);
