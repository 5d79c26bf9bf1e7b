-- The control plane: tenants, provider accounts (secrets sealed at rest), channels, API keys,
-- token signing keys, and the outbox the relay publishes to control.config.

CREATE TABLE tenants (
    id              text        PRIMARY KEY,
    name            text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'suspended')),
    limits          jsonb       NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- An account's whole entity, its secrets sealed under the at-rest key ring (AES-256-GCM,
-- bound to the account's key); key_ids lists the ring keys it uses, so rotate-keys finds
-- the rows still sealed under an old key.
CREATE TABLE accounts (
    provider        text        NOT NULL,
    id              text        NOT NULL,
    tenants         text[]      NOT NULL,
    state           jsonb       NOT NULL,
    key_ids         text[]      NOT NULL,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, id)
);
CREATE INDEX accounts_tenants ON accounts USING gin (tenants);

-- The primary key is what makes a channel belong to exactly one tenant.
CREATE TABLE channels (
    kind            text        NOT NULL,
    id              text        NOT NULL,
    tenant          text        NOT NULL REFERENCES tenants (id),
    provider        text        NOT NULL,
    account_id      text        NOT NULL,
    waba_id         text,
    number          text,
    version         integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, id),
    FOREIGN KEY (provider, account_id) REFERENCES accounts (provider, id)
);
CREATE INDEX channels_tenant ON channels (tenant);
CREATE INDEX channels_account ON channels (provider, account_id);

-- Only a SHA-256 of each key's secret is kept; tenant NULL is a platform operator's key.
CREATE TABLE api_keys (
    id              text        PRIMARY KEY,
    tenant          text        REFERENCES tenants (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    scopes          text[]      NOT NULL,
    secret_hash     bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant);

-- Ed25519 keys signing the access tokens; the private half sealed at rest. One is active.
CREATE TABLE signing_keys (
    kid             text        PRIMARY KEY,
    private_key     jsonb       NOT NULL,
    public_key      text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    not_after       timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

-- Written in the same transaction as the change; the relay publishes the key's current state
-- (or a tombstone) to control.config and marks the row sent.
CREATE TABLE outbox (
    id              bigserial   PRIMARY KEY,
    key             text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
