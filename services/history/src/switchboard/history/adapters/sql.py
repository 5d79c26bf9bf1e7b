"""The write SQL of the store: column lists and set-based statements (arrays via ``unnest``;
the hot ones' arguments packed, see :mod:`~switchboard.history.adapters.packing`)."""

from collections.abc import Sequence
from typing import Final

from switchboard.history.adapters.packing import packed_unnest

UPSERT_INDEX: Final = """
INSERT INTO {table} AS i ({key}, tenant_id, seen_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) ORDER BY 1
ON CONFLICT ({key}) DO UPDATE SET {key} = EXCLUDED.{key}
RETURNING {key} AS id, tenant_id, seen_at, (xmax = 0) AS inserted
"""
# DO UPDATE (not DO NOTHING) so RETURNING gives existing rows too and locks them in key
# order: two transactions touching one call wait for each other instead of racing the fold.

INDEX_COLUMNS: Final = (("call_id", "text"), ("tenant_id", "text"), ("seen_at", "timestamptz"))
_LOCK_CALLS: Final = """
INSERT INTO call_index AS i (call_id, tenant_id, seen_at)
{select} ORDER BY call_id COLLATE "C"
ON CONFLICT (call_id) DO UPDATE SET version = i.version + 1
RETURNING call_id AS id, tenant_id, seen_at, version
"""
UPSERT_CALL_INDEX: Final = _LOCK_CALLS.format(
    select="SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(call_id, t, s)"
)
UPSERT_CALL_INDEX_PACKED: Final = _LOCK_CALLS.format(select=packed_unnest(INDEX_COLUMNS))
# The same lock, and each transaction that writes a call's events counts itself in the call's
# version (0: first seen by this one). A store that remembers the version its own last write
# left knows whether anyone else has written the call's events since. Only version changes:
# the update stays on the row's page without touching the indexes (HOT, see migration 0002).
# Locked in code point order (COLLATE "C"), the order Python sorts the ids in.
LOCK_CALLS_PACKED: Final = f"""
WITH locked AS ({UPSERT_CALL_INDEX_PACKED})
SELECT array_agg(id), array_agg(tenant_id), array_agg(date_part('epoch', seen_at)),
       array_agg(version)
FROM locked
"""  # noqa: S608
# One row of four arrays: decoding 250 rows (a record, a datetime each) costs the client more
# than the statement costs the server. seen_at as Unix seconds, exact as in packed_unnest. The
# arrays come in the order the rows were locked (the ids as Python sorts them) in practice;
# the store relies on that only for its fast path, after checking the ids.

INSERT_EVENTS: Final = """
INSERT INTO call_events (event_id, call_seen_at, call_id, tenant_id, event_type, status,
                         sequence_number, occurred_at, data)
SELECT e, s, c, t, ty, st, q, o, d::jsonb
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::integer[], $8::timestamptz[], $9::text[]) AS x(e, s, c, t, ty, st, q, o, d)
ON CONFLICT (event_id, call_seen_at) DO NOTHING
RETURNING event_id
"""

LOAD_EVENTS: Final = """
SELECT e.event_id, e.tenant_id, e.call_id, e.event_type
FROM unnest($1::text[], $2::timestamptz[]) AS k(call_id, seen_at)
JOIN call_events e ON e.call_id = k.call_id AND e.call_seen_at = k.seen_at
"""
# The payloads of those of them this process does not remember.
LOAD_EVENT_DATA: Final = """
SELECT e.event_id, e.data::text AS data
FROM unnest($1::text[], $2::timestamptz[]) AS k(event_id, seen_at)
JOIN call_events e ON e.event_id = k.event_id AND e.call_seen_at = k.seen_at
"""

OPEN_CALLS: Final = """
SELECT call_id, tenant_id, provider, account_id, status, last_event_at FROM calls
WHERE status_rank < 4 AND last_event_at < $1 AND seen_at >= $2
  AND ($4::timestamptz IS NULL OR (last_event_at, call_id) > ($4, $5))
ORDER BY last_event_at, call_id LIMIT $3
"""

EVENT_COLUMNS: Final = (
    "event_id",
    "call_seen_at",
    "call_id",
    "tenant_id",
    "event_type",
    "status",
    "sequence_number",
    "occurred_at",
    "data",
)

REPORTED_CONVERSATIONS: Final = """
SELECT DISTINCT agent_call_id FROM calls
WHERE agent_call_id = ANY($1::text[]) AND seen_at >= $2
"""

CALL_COLUMNS: Final = (
    ("call_id", "text"),
    ("seen_at", "timestamptz"),
    ("tenant_id", "text"),
    ("provider", "text"),
    ("account_id", "text"),
    ("status", "text"),
    ("status_rank", "smallint"),
    ("sequence_number", "integer"),
    ("direction", "text"),
    ("from_number", "text"),
    ("to_number", "text"),
    ("duration_s", "integer"),
    ("answered_by", "text"),
    ("campaign_id", "text"),
    ("contact_id", "text"),
    ("attempt_id", "text"),
    ("attempt_number", "integer"),
    ("agent_id", "text"),
    ("agent_call_id", "text"),
    ("cost", "double precision"),
    ("ended_reason", "text"),
    ("summary", "text"),
    ("transcript", "text"),
    ("recording_url", "text"),
    ("error_code", "text"),
    ("error_message", "text"),
    ("first_event_at", "timestamptz"),
    ("last_event_at", "timestamptz"),
    ("ended_at", "timestamptz"),
    ("event_count", "integer"),
)

CALL_COLUMN_NAMES: Final = tuple(name for name, _ in CALL_COLUMNS)


def _unnest_insert(table: str, columns: Sequence[tuple[str, str]]) -> str:
    names = ", ".join(c for c, _ in columns)
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(columns, 1))
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608


_ON_CALL_CONFLICT: Final = (
    " ON CONFLICT (call_id, seen_at) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c, _ in CALL_COLUMNS[2:])
    + ", updated_at = now()"
)
UPSERT_CALLS: Final = _unnest_insert("calls", CALL_COLUMNS) + _ON_CALL_CONFLICT
UPSERT_CALLS_PACKED: Final = (
    f"INSERT INTO calls ({', '.join(CALL_COLUMN_NAMES)}) "
    + packed_unnest(CALL_COLUMNS)
    + _ON_CALL_CONFLICT
)

MESSAGE_COLUMNS: Final = (
    ("message_id", "text"),
    ("seen_at", "timestamptz"),
    ("tenant_id", "text"),
    ("conversation_id", "text"),
    ("channel", "text"),
    ("provider", "text"),
    ("business_channel_id", "text"),
    ("contact", "text"),
    ("direction", "text"),
    ("account_id", "text"),
    ("contact_name", "text"),
    ("message_type", "text"),
    ("text", "text"),
    ("media", "jsonb"),
    ("in_reply_to", "text"),
    ("business_id", "text"),
    ("model", "text"),
    ("prompt_tokens", "integer"),
    ("completion_tokens", "integer"),
    ("cost_usd", "double precision"),
    ("fallback", "boolean"),
    ("sent_at", "timestamptz"),
    ("status", "text"),
    ("status_rank", "smallint"),
    ("status_at", "timestamptz"),
    ("error_code", "text"),
    ("error_message", "text"),
)
_MESSAGE_STATUS = ("status", "status_rank", "status_at", "error_code", "error_message")
_NEW_WINS: Final = (
    "(COALESCE(EXCLUDED.status_rank, -1), COALESCE(EXCLUDED.status, '') COLLATE \"C\", "
    "COALESCE(EXCLUDED.status_at, '-infinity')) > (COALESCE(m.status_rank, -1), "
    "COALESCE(m.status, '') COLLATE \"C\", COALESCE(m.status_at, '-infinity'))"
)


def _merge_column(name: str, sql_type: str) -> str:
    if name in _MESSAGE_STATUS:
        return f"{name} = CASE WHEN {_NEW_WINS} THEN EXCLUDED.{name} ELSE m.{name} END"
    if sql_type == "text":
        return f'{name} = LEAST(m.{name} COLLATE "C", EXCLUDED.{name} COLLATE "C")'
    if sql_type == "jsonb":
        return f"{name} = COALESCE(m.{name}, EXCLUDED.{name})"
    return f"{name} = LEAST(m.{name}, EXCLUDED.{name})"  # LEAST ignores NULLs, like the rule


UPSERT_MESSAGES: Final = (
    _unnest_insert("messages AS m", MESSAGE_COLUMNS)
    + " ON CONFLICT (message_id, seen_at) DO UPDATE SET "
    + ", ".join(_merge_column(c, t) for c, t in MESSAGE_COLUMNS[3:])
    + ", updated_at = now()"
)

UPSERT_CONVERSATIONS: Final = """
INSERT INTO conversations AS c (tenant_id, conversation_id, channel, business_channel_id,
                                contact, contact_name, seen_at, first_message_at, last_message_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET
    contact_name = LEAST(c.contact_name COLLATE "C", EXCLUDED.contact_name COLLATE "C"),
    first_message_at = LEAST(c.first_message_at, EXCLUDED.first_message_at),
    last_message_at = GREATEST(c.last_message_at, EXCLUDED.last_message_at)
"""
