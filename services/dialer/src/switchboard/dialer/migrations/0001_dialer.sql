-- Campaigns, their contacts and attempts, the do-not-call list, and the transactional outbox.
-- depends:

CREATE TABLE campaigns (
    id              uuid PRIMARY KEY,
    tenant_id       text        NOT NULL,
    name            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'draft',
    account_sid     text        NOT NULL,
    cps             double precision NOT NULL,
    max_concurrent  integer     NOT NULL,
    config          jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_tenant ON campaigns (tenant_id, created_at DESC);
CREATE INDEX campaigns_running ON campaigns (status) WHERE status = 'running';

-- The distinct zone keys of a campaign's contacts: the worker decides in Python which keys
-- are inside the calling window now, and claims only those.
CREATE TABLE campaign_zones (
    campaign_id     uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    zone_key        text NOT NULL,
    PRIMARY KEY (campaign_id, zone_key)
);

-- No foreign key to campaigns: its per-row check doubles the time of a 300k-row load; the
-- API checks the campaign (and its tenant) before loading.
CREATE TABLE contacts (
    id              bigserial PRIMARY KEY,
    campaign_id     uuid        NOT NULL,
    phone           text        NOT NULL,
    zone_key        text        NOT NULL,
    vars            jsonb,
    state           text        NOT NULL DEFAULT 'pending',
    outcome         text,
    attempts        integer     NOT NULL DEFAULT 0,
    next_at         timestamptz NOT NULL DEFAULT '-infinity',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, phone)
);
CREATE INDEX contacts_due ON contacts (campaign_id, zone_key, next_at) WHERE state = 'pending';

-- state: claimed (committed before the provider is asked) → placed | not_placed |
-- place_failed | abandoned (recovery found no call) → ended.
CREATE TABLE attempts (
    id              uuid PRIMARY KEY,
    campaign_id     uuid        NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id      bigint      NOT NULL,
    number          integer     NOT NULL,
    state           text        NOT NULL,
    to_number       text        NOT NULL,
    from_number     text        NOT NULL,
    worker_id       text        NOT NULL,
    claimed_at      timestamptz NOT NULL,
    lease_until     timestamptz NOT NULL,
    call_sid        text UNIQUE,
    placed_at       timestamptz,
    answered_by     text,
    outcome         text,
    error_code      text,
    ended_at        timestamptz
);
CREATE INDEX attempts_claimed ON attempts (lease_until) WHERE state = 'claimed';
CREATE INDEX attempts_in_flight ON attempts (campaign_id) WHERE state IN ('claimed', 'placed');
CREATE INDEX attempts_contact ON attempts (contact_id);
CREATE INDEX attempts_placed_at ON attempts (campaign_id, placed_at);

-- Terminal call events that arrived before their CallSid was recorded (rare: a crash between
-- the provider's answer and our commit). Applied when the sid is recorded; purged after a day.
CREATE TABLE early_call_events (
    call_sid        text PRIMARY KEY,
    status          text,
    answered_by     text,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dnc (
    tenant_id       text        NOT NULL,
    phone           text        NOT NULL,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, phone)
);

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    topic           text        NOT NULL,
    key             text,
    headers         jsonb       NOT NULL,
    value           bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
