-- Call recordings (Twilio's recording status callbacks), one row per recording sid. Not
-- partitioned: a handful of rows per recorded call, pruned with call_index past retention
-- (partitions.py). ``deleted_at`` is set once the recording is deleted at the provider
-- through the API; a late callback never brings it back (adapters/recordings.py).
-- depends: 0004_messages_stored_at

CREATE TABLE call_recordings (
    recording_id  text        PRIMARY KEY,
    call_id       text        NOT NULL,
    tenant_id     text        NOT NULL,
    provider      text        NOT NULL,
    account_id    text,
    status        text        NOT NULL,
    status_rank   smallint    NOT NULL,
    url           text,
    duration_s    integer,
    started_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX call_recordings_call ON call_recordings (tenant_id, call_id);
CREATE INDEX call_recordings_started ON call_recordings (started_at);
