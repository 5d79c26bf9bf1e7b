-- Call and message history, range-partitioned by day (partitions are created and dropped by
-- the worker's maintenance task, see adapters/partitions.py).
--
-- A primary key of a partitioned table must contain the partition key, so the key of each
-- row is (provider id, seen_at) where seen_at is fixed the first time the id is seen and never
-- changes: the small non-partitioned *_index tables hold that first sighting, so every later
-- event finds the row's partition (and ON CONFLICT finds the row). A call's events are
-- partitioned by their call's seen_at too, so (event_id, call_seen_at) dedupes event ids and a
-- call's timeline lives (and is dropped) with its call.
-- depends:

CREATE TABLE call_index (
    call_id    text PRIMARY KEY,
    tenant_id  text        NOT NULL,
    seen_at    timestamptz NOT NULL
);
CREATE INDEX call_index_seen ON call_index (seen_at);

CREATE TABLE calls (
    call_id          text        NOT NULL,
    seen_at          timestamptz NOT NULL,
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
    campaign_id      text,
    contact_id       text,
    attempt_id       text,
    attempt_number   integer,
    agent_id         text,
    agent_call_id    text,
    cost             double precision,
    ended_reason     text,
    summary          text,
    transcript       text,
    recording_url    text,
    error_code       text,
    error_message    text,
    first_event_at   timestamptz NOT NULL,
    last_event_at    timestamptz NOT NULL,
    ended_at         timestamptz,
    event_count      integer     NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (call_id, seen_at)
) PARTITION BY RANGE (seen_at);
CREATE INDEX calls_tenant_time ON calls (tenant_id, seen_at DESC, call_id DESC);
-- The list's filters that can be selective: without these, a rare value walks the tenant's
-- whole (tenant, time) index.
CREATE INDEX calls_tenant_status ON calls (tenant_id, status, seen_at DESC, call_id DESC);
CREATE INDEX calls_tenant_to ON calls (tenant_id, to_number, seen_at DESC, call_id DESC);
CREATE INDEX calls_tenant_from ON calls (tenant_id, from_number, seen_at DESC, call_id DESC);
CREATE INDEX calls_tenant_campaign ON calls (tenant_id, campaign_id, seen_at DESC)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX calls_agent_call ON calls (agent_call_id) WHERE agent_call_id IS NOT NULL;
CREATE INDEX calls_open ON calls (last_event_at) WHERE status_rank < 4;

CREATE TABLE call_events (
    event_id         text        NOT NULL,
    call_seen_at     timestamptz NOT NULL,
    call_id          text        NOT NULL,
    tenant_id        text        NOT NULL,
    event_type       text        NOT NULL,
    status           text,
    sequence_number  integer,
    occurred_at      timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    data             jsonb       NOT NULL,
    PRIMARY KEY (event_id, call_seen_at)
) PARTITION BY RANGE (call_seen_at);
CREATE INDEX call_events_call ON call_events (call_id, occurred_at);

CREATE TABLE message_index (
    message_id  text PRIMARY KEY,
    tenant_id   text        NOT NULL,
    seen_at     timestamptz NOT NULL
);
CREATE INDEX message_index_seen ON message_index (seen_at);

CREATE TABLE messages (
    message_id          text        NOT NULL,
    seen_at             timestamptz NOT NULL,
    tenant_id           text        NOT NULL,
    conversation_id     text        NOT NULL,
    channel             text        NOT NULL,
    provider            text        NOT NULL,
    business_channel_id text        NOT NULL,
    contact             text        NOT NULL,
    direction           text,
    account_id          text,
    contact_name        text,
    message_type        text,
    text                text,
    media               jsonb,
    in_reply_to         text,
    business_id         text,
    model               text,
    prompt_tokens       integer,
    completion_tokens   integer,
    cost_usd            double precision,
    fallback            boolean,
    sent_at             timestamptz,
    status              text,
    status_rank         smallint,
    status_at           timestamptz,
    error_code          text,
    error_message       text,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, seen_at)
) PARTITION BY RANGE (seen_at);
CREATE INDEX messages_conversation ON messages (tenant_id, conversation_id, seen_at, message_id);
CREATE INDEX messages_tenant_time ON messages (tenant_id, seen_at DESC);

CREATE TABLE conversations (
    tenant_id           text        NOT NULL,
    conversation_id     text        NOT NULL,
    channel             text        NOT NULL,
    business_channel_id text        NOT NULL,
    contact             text        NOT NULL,
    contact_name        text,
    seen_at             timestamptz NOT NULL,
    first_message_at    timestamptz NOT NULL,
    last_message_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);
-- seen_at (first sighting, never updated) is the list order: stable under inserts.
CREATE INDEX conversations_tenant_time
    ON conversations (tenant_id, seen_at DESC, conversation_id DESC);
CREATE INDEX conversations_last ON conversations (last_message_at);
