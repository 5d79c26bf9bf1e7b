"""The read side over PostgreSQL. Tenancy is enforced here, in one place: every query is
built by :class:`Scoped`, whose first condition is ``tenant_id = $1`` bound to the tenant the
reader was made for; no method takes a tenant, so no handler can ask for another one's rows.

Pages are keyset pages on ``(seen_at, id)`` (immutable once a row exists), so inserts while a
client pages never shift or repeat rows; the cursor is that pair, base64url-encoded. The CSV
export walks the same keyset in chunks, each a short query of its own (see ``export_calls``).
"""

import base64
import binascii
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg

from switchboard.common.errors import translated
from switchboard.history.adapters.pool import POSTGRES_ERRORS
from switchboard.history.adapters.recordings import recordings_of_call
from switchboard.history.errors import BadQueryError
from switchboard.history.schemas import (
    CSV_COLUMNS,
    CSV_STORED_AS,
    CallDetail,
    CallEventOut,
    CallFilters,
    CallPage,
    CallSummary,
    Conversation,
    ConversationPage,
    DayStats,
    MessageOut,
    MessagePage,
    Stats,
)
from switchboard.history.settings import ApiSettings

_SUMMARY = (
    "call_id, provider, status, direction, from_number, to_number, seen_at, "
    "first_event_at AS started_at, ended_at, duration_s, answered_by, campaign_id, cost, "
    "ended_reason"
)
_DETAIL = (
    _SUMMARY + ", account_id, sequence_number, contact_id, attempt_id, attempt_number, agent_id, "
    "agent_call_id, summary, transcript, recording_url, error_code, error_message, "
    "last_event_at, event_count"
)
CSV_SELECT: Final = ", ".join(
    f"{CSV_STORED_AS[c]} AS {c}" if c in CSV_STORED_AS else c for c in CSV_COLUMNS
)


def encode_cursor(at: datetime, key: str) -> str:
    raw = json.dumps([at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, key = json.loads(raw)
        parsed = datetime.fromisoformat(at)
        if parsed.tzinfo is None or not isinstance(key, str):
            raise ValueError("cursor fields")
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise BadQueryError("cursor: not a cursor this API returned") from exc
    return parsed, key


class Scoped:
    """A WHERE clause that always starts with the tenant; further conditions bind in order."""

    def __init__(self, tenant: str) -> None:
        self.args: list[object] = [tenant]
        self._where = ["tenant_id = $1"]

    def add(self, condition: str, *values: object) -> "Scoped":
        """``condition`` with ``{}`` placeholders, one per value."""
        marks = []
        for value in values:
            self.args.append(value)
            marks.append(f"${len(self.args)}")
        self._where.append(condition.format(*marks))
        return self

    @property
    def where(self) -> str:
        return " AND ".join(self._where)

    def calls(self, f: CallFilters) -> "Scoped":
        if f.since is not None:
            self.add("seen_at >= {}", f.since)
        if f.until is not None:
            self.add("seen_at < {}", f.until)
        for column, value in (
            ("status", f.status.value if f.status else None),
            ("direction", f.direction),
            ("from_number", f.from_number),
            ("to_number", f.to_number),
            ("campaign_id", f.campaign_id),
        ):
            if value is not None:
                self.add(f"{column} = {{}}", value)
        return self


class PostgresTenantHistory:
    """Reads of one tenant."""

    def __init__(
        self, pool: "asyncpg.Pool[asyncpg.Record]", tenant: str, api: ApiSettings | None = None
    ) -> None:
        self._pool = pool
        self._tenant = tenant
        self._api = api or ApiSettings()

    def _scope(self) -> Scoped:
        return Scoped(self._tenant)

    async def _fetch(self, sql: str, args: Sequence[object]) -> list[asyncpg.Record]:
        async with translated("query", POSTGRES_ERRORS), self._pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def list_calls(self, filters: CallFilters, limit: int, cursor: str | None) -> CallPage:
        q = self._scope().calls(filters)
        if cursor:
            at, key = decode_cursor(cursor)
            # the plain bound lets PostgreSQL prune partitions; the row bound is the keyset
            q.add("seen_at <= {}", at).add("(seen_at, call_id) < ({}, {})", at, key)
        rows = await self._fetch(
            f"SELECT {_SUMMARY} FROM calls WHERE {q.where} "  # noqa: S608 - values are bound
            "ORDER BY seen_at DESC, call_id DESC LIMIT " + _limit(limit),
            q.args,
        )
        items = [CallSummary(**dict(r)) for r in rows[:limit]]
        more = len(rows) > limit
        return CallPage(
            items=items,
            next_cursor=encode_cursor(items[-1].seen_at, items[-1].call_id) if more else None,
        )

    async def get_call(self, call_id: str) -> CallDetail | None:
        q = self._scope().add("call_id = {}", call_id)
        index = await self._fetch(f"SELECT seen_at FROM call_index WHERE {q.where}", q.args)  # noqa: S608
        if index:
            q.add("seen_at = {}", index[0]["seen_at"])
        else:  # a voice-agent id linked to its telephony call
            q = self._scope().add("agent_call_id = {}", call_id)
        rows = await self._fetch(f"SELECT {_DETAIL} FROM calls WHERE {q.where} LIMIT 1", q.args)  # noqa: S608
        if not rows:
            return None
        call = dict(rows[0])
        e = (
            self._scope()
            .add("call_id = {}", call["call_id"])
            .add("call_seen_at = {}", call["seen_at"])
        )
        events = await self._fetch(
            "SELECT event_id, event_type, status, sequence_number, occurred_at, received_at, "  # noqa: S608
            f"data::text AS data FROM call_events WHERE {e.where} "
            "ORDER BY occurred_at, event_id",
            e.args,
        )
        timeline = [CallEventOut(**{**dict(r), "data": json.loads(r["data"])}) for r in events]
        async with translated("query", POSTGRES_ERRORS):
            recordings = await recordings_of_call(self._pool, self._tenant, call["call_id"])
        return CallDetail(**call, events=timeline, recordings=recordings)

    async def export_calls(self, filters: CallFilters) -> AsyncIterator[Sequence[object]]:
        """Every matching call (``CSV_COLUMNS``) in the list's order, read in keyset chunks of
        ``export_chunk_rows``: each chunk is one query in a transaction of its own, bounded by
        ``statement_timeout``, and its connection goes back to the pool before its rows are
        yielded. So a slow client holds no transaction and no lock (partition maintenance is
        never queued behind an export) and no pooled connection. The price: not one snapshot —
        a call that changes while the export runs is exported as its chunk finds it."""
        chunk = self._api.export_chunk_rows
        timeout = f"{max(1, round(self._api.export_statement_timeout_s * 1000))}ms"
        at, key = CSV_COLUMNS.index("seen_at"), CSV_COLUMNS.index("call_id")
        after: tuple[datetime, str] | None = None
        while True:
            q = self._scope().calls(filters)
            if after is not None:  # as list_calls: the plain bound prunes partitions
                q.add("seen_at <= {}", after[0]).add("(seen_at, call_id) < ({}, {})", *after)
            sql = (
                f"SELECT {CSV_SELECT} FROM calls WHERE {q.where} "  # noqa: S608
                f"ORDER BY seen_at DESC, call_id DESC LIMIT {int(chunk)}"
            )
            async with (
                translated("export", POSTGRES_ERRORS),
                self._pool.acquire() as conn,
                conn.transaction(),
            ):
                await conn.execute("SELECT set_config('statement_timeout', $1, true)", timeout)
                rows = await conn.fetch(sql, *q.args)
            for row in rows:
                yield tuple(row)
            if len(rows) < chunk:
                return
            after = (rows[-1][at], rows[-1][key])

    async def list_conversations(
        self, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> ConversationPage:
        q = self._scope()
        if since is not None:
            q.add("last_message_at >= {}", since)
        if until is not None:
            q.add("first_message_at < {}", until)
        if cursor:
            q.add("(seen_at, conversation_id) < ({}, {})", *decode_cursor(cursor))
        rows = await self._fetch(
            "SELECT conversation_id, channel, business_channel_id, contact, contact_name, "  # noqa: S608
            f"seen_at, first_message_at, last_message_at FROM conversations WHERE {q.where} "
            "ORDER BY seen_at DESC, conversation_id DESC LIMIT " + _limit(limit),
            q.args,
        )
        items = [Conversation(**dict(r)) for r in rows[:limit]]
        last = items[-1] if len(rows) > limit else None
        return ConversationPage(
            items=items,
            next_cursor=encode_cursor(last.seen_at, last.conversation_id) if last else None,
        )

    async def list_messages(
        self, conversation_id: str, limit: int, cursor: str | None
    ) -> MessagePage | None:
        c = self._scope().add("conversation_id = {}", conversation_id)
        if not await self._fetch(f"SELECT 1 FROM conversations WHERE {c.where}", c.args):  # noqa: S608
            return None
        q = self._scope().add("conversation_id = {}", conversation_id)
        if cursor:
            at, key = decode_cursor(cursor)
            q.add("seen_at >= {}", at).add("(seen_at, message_id) > ({}, {})", at, key)
        rows = await self._fetch(
            "SELECT message_id, direction, message_type, text, sent_at, status, status_at, "  # noqa: S608
            f"error_code, error_message, model, cost_usd, seen_at FROM messages WHERE {q.where} "
            "ORDER BY seen_at, message_id LIMIT " + _limit(limit),
            q.args,
        )
        items = [MessageOut(**dict(r)) for r in rows[:limit]]
        last = items[-1] if len(rows) > limit else None
        return MessagePage(
            items=items, next_cursor=encode_cursor(last.seen_at, last.message_id) if last else None
        )

    async def stats(self, filters: CallFilters) -> Stats:
        q = self._scope().calls(filters)
        totals = await self._fetch(
            "SELECT status, count(*) AS n FROM calls "  # noqa: S608
            f"WHERE {q.where} GROUP BY status",
            q.args,
        )
        [agg] = await self._fetch(
            "SELECT count(*) FILTER (WHERE status_rank = 4) AS ended, "  # noqa: S608
            "count(*) FILTER (WHERE status = 'completed') AS completed, "
            "avg(duration_s) FILTER (WHERE status = 'completed') AS mean, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_s) "
            "  FILTER (WHERE status = 'completed') AS p50, "
            "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_s) "
            "  FILTER (WHERE status = 'completed') AS p95, "
            f"COALESCE(sum(cost), 0) AS cost FROM calls WHERE {q.where}",
            q.args,
        )
        days = await self._fetch(
            "SELECT (seen_at AT TIME ZONE 'UTC')::date AS day, count(*) AS calls, "  # noqa: S608
            "count(*) FILTER (WHERE status = 'completed') AS completed, "
            "count(*) FILTER (WHERE status_rank = 4) AS ended, "
            f"COALESCE(sum(cost), 0) AS cost FROM calls WHERE {q.where} GROUP BY 1 ORDER BY 1",
            q.args,
        )
        return Stats(
            calls=sum(r["n"] for r in totals),
            by_status={r["status"]: r["n"] for r in totals},
            answer_rate=_rate(agg["completed"], agg["ended"]),
            duration_mean_s=_float(agg["mean"]),
            duration_p50_s=_float(agg["p50"]),
            duration_p95_s=_float(agg["p95"]),
            cost=float(agg["cost"]),
            per_day=[
                DayStats(
                    day=r["day"],
                    calls=r["calls"],
                    completed=r["completed"],
                    answer_rate=_rate(r["completed"], r["ended"]),
                    cost=float(r["cost"]),
                )
                for r in days
            ],
        )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None


# Every read is a prepared statement whose plan, made once per connection, prunes
# partitions at run time: planning over ~95 daily partitions for each request costs more
# (5-10 ms) than running the query (<1 ms). The API's pool sets this; see app.py.
READ_SERVER_SETTINGS = {"plan_cache_mode": "force_generic_plan"}


def _limit(page: int) -> str:
    """A page's LIMIT (one row more, to know whether a next page exists) written into the SQL:
    a generic plan cannot see a bound ``$n``, costs the query as if a tenth of the rows were
    wanted, and over millions of rows sorts them all instead of reading an index in order."""
    return str(int(page) + 1)


class PostgresHistoryReader:
    """Hands out per-tenant readers over one pool."""

    def __init__(
        self, pool: "asyncpg.Pool[asyncpg.Record]", api: ApiSettings | None = None
    ) -> None:
        self._pool = pool
        self._api = api or ApiSettings()

    def for_tenant(self, tenant: str) -> PostgresTenantHistory:
        return PostgresTenantHistory(self._pool, tenant, self._api)

    async def is_ready(self) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))
