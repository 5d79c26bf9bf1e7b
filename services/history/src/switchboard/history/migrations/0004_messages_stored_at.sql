-- messages.stored_at: when the row was first written (the writing transaction's start), never
-- changed by later merges (updated_at is): what webhook → stored-row latency is measured
-- against (make chaos), as call_events.received_at is for call events. A default that is not
-- volatile: no table rewrite, existing rows get the time of the migration.
-- depends: 0003_call_index_seen_brin

ALTER TABLE messages ADD COLUMN stored_at timestamptz NOT NULL DEFAULT now();
