-- depends: 0001_control
-- The models the platform offers (the operator's allow-list) and what it pays for them.

CREATE TABLE models (
    id                  text           PRIMARY KEY,
    input_per_1k_usd    numeric(12, 8) NOT NULL CHECK (input_per_1k_usd >= 0),
    output_per_1k_usd   numeric(12, 8) NOT NULL CHECK (output_per_1k_usd >= 0),
    version             integer        NOT NULL DEFAULT 1,
    created_at          timestamptz    NOT NULL DEFAULT now(),
    updated_at          timestamptz    NOT NULL DEFAULT now()
);
