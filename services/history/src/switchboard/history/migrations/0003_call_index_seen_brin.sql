-- call_index_seen serves one statement: the maintenance task's daily
-- ``DELETE FROM call_index WHERE seen_at < cutoff`` (partitions.py). A btree on it costs an
-- index insertion for every new call, on the store's hot path. seen_at is a call's first
-- sighting, clamped to now, so rows arrive in (nearly) seen_at order: a BRIN index finds the
-- old days' block ranges for the prune at a fraction of the write cost (an insert into a block
-- range not summarised yet writes nothing to it), and the column never changes, so the version
-- bump stays a HOT update (0002).
-- Rebuilding the index takes a lock that blocks writes to call_index while it is built (a
-- sequential scan); run it at a quiet time on a large table.
-- depends: 0002_call_index_version

DROP INDEX call_index_seen;
CREATE INDEX call_index_seen ON call_index USING brin (seen_at);
