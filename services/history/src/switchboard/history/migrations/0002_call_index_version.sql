-- call_index.version: how many transactions after the first have written the call's events
-- (each bumps it under the row lock it takes anyway). A store that remembers the version its
-- own last write of a call left, and finds it bumped only by itself, knows the call's stored
-- events without reading them back. The bump changes no indexed column, so with room left on
-- each page (fillfactor) it is a HOT update: no index entries written.
-- Neither statement rewrites the table: existing databases upgrade at once (the fillfactor
-- applies to pages written from now on).
-- depends: 0001_calls

ALTER TABLE call_index ADD COLUMN version integer NOT NULL DEFAULT 0;
ALTER TABLE call_index SET (fillfactor = 70);
