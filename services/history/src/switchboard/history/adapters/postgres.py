"""asyncpg store for call and message history. Owns the write SQL; driver errors become ours.

One transaction per batch, a handful of statements whatever its size (arrays through
``unnest``): first sightings into the ``*_index`` tables (which fix each row's partition),
new events into ``call_events`` (a known event id changes nothing), then each touched call's
row recomputed from all its events with :func:`fold_call`, and messages merged column by
column with the rule of :mod:`switchboard.history.messages`.
"""

import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import datetime

import asyncpg
import structlog

from switchboard.common.events import EVENT_TYPES
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.sql import (
    CALL_COLUMNS,
    INSERT_EVENTS,
    LOAD_EVENTS,
    MESSAGE_COLUMNS,
    OPEN_CALLS,
    UPSERT_CALLS,
    UPSERT_CONVERSATIONS,
    UPSERT_INDEX,
    UPSERT_MESSAGES,
)
from switchboard.history.errors import StoreRejectedError, StoreUnavailableError
from switchboard.history.messages import MessageRow, merge_message
from switchboard.history.models import CallFact, CallRow, fold_call
from switchboard.history.reconciler import OpenCall

log = structlog.get_logger(__name__)


@contextlib.asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """asyncpg errors → ours: refused data is permanent, the rest may pass on a retry."""
    try:
        yield
    except asyncpg.CheckViolationError as exc:  # "no partition for row": a day was dropped
        raise StoreUnavailableError(f"{what}: {exc!r}") from exc
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
        # bad encoding, NUL in text, out-of-range value: the same data fails every time
        raise StoreRejectedError(f"{what}: {exc!r}") from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StoreUnavailableError(f"{what}: {exc!r}") from exc


def _transpose(rows: Iterable[Sequence[object]], width: int) -> list[list[object]]:
    columns: list[list[object]] = [[] for _ in range(width)]
    for row in rows:
        for i, value in enumerate(row):
            columns[i].append(value)
    return columns


class PostgresStore:
    """Writes call facts and messages; one transaction per batch."""

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]", partitions: PartitionManager) -> None:
        self._pool = pool
        self._partitions = partitions

    async def is_ready(self) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))

    def _first_sightings(
        self, items: Iterable[tuple[str, str, datetime]]
    ) -> dict[str, tuple[str, datetime]]:
        """Per id: the tenant and (clamped to now) time of its earliest item in the batch."""
        now = self._partitions.now()
        first: dict[str, tuple[str, datetime]] = {}
        for key, tenant, at in sorted(items, key=lambda i: (i[2], i[1])):
            first.setdefault(key, (tenant, min(at, now)))
        return first

    async def _index(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        table: str,
        key: str,
        first: dict[str, tuple[str, datetime]],
    ) -> dict[str, tuple[str, datetime, bool]]:
        ids = sorted(first)
        rows = await conn.fetch(
            UPSERT_INDEX.format(table=table, key=key),
            ids,
            [first[i][0] for i in ids],
            [first[i][1] for i in ids],
        )
        return {r["id"]: (r["tenant_id"], r["seen_at"], r["inserted"]) for r in rows}

    async def record_call_facts(self, facts: Sequence[CallFact]) -> int:
        """Store ``facts`` in one transaction; return how many events were new."""
        cutoff = self._partitions.cutoff()
        unique = {f.event_id: f for f in facts if f.occurred_at >= cutoff}
        if len(unique) < len({f.event_id for f in facts}):
            log.warning("call events past retention skipped", cutoff=cutoff.isoformat())
        if not unique:
            return 0
        first = self._first_sightings(
            (f.call_id, f.tenant_id, f.occurred_at) for f in unique.values()
        )
        try:
            async with translated("storing call events"):
                await self._partitions.ensure_days(at.date() for _, at in first.values())
                return await self._write_calls(list(unique.values()), first)
        except StoreUnavailableError:
            self._partitions.forget()  # a day may have been dropped under us
            raise

    async def _write_calls(
        self, facts: list[CallFact], first: dict[str, tuple[str, datetime]]
    ) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            index = await self._index(conn, "call_index", "call_id", first)
            events = [
                (
                    f.event_id,
                    index[f.call_id][1],
                    f.call_id,
                    f.tenant_id,
                    f.event_type,
                    f.status.value if f.status else None,
                    f.sequence_number,
                    f.occurred_at,
                    f.data.model_dump_json(),
                )
                for f in facts
            ]
            inserted = await conn.fetch(INSERT_EVENTS, *_transpose(events, 9))
            changed = {r["call_id"] for r in inserted}
            if not changed:
                return 0
            by_call: dict[str, list[CallFact]] = defaultdict(list)
            old = sorted(c for c in changed if not index[c][2])
            if old:
                in_batch = {f.event_id: f for f in facts}
                rows = await conn.fetch(LOAD_EVENTS, old, [index[c][1] for c in old])
                for r in rows:
                    fact = in_batch.get(r["event_id"])
                    if fact is None:  # stored by an earlier batch: parse it back
                        data = EVENT_TYPES[r["event_type"]].model_validate_json(r["data"])
                        fact = CallFact(r["event_id"], r["tenant_id"], r["call_id"], data)
                    by_call[r["call_id"]].append(fact)
            for f in facts:
                if f.call_id in changed and index[f.call_id][2]:
                    by_call[f.call_id].append(f)
            calls = []
            for call_id in sorted(changed):
                owner, seen_at, _ = index[call_id]
                own = [f for f in by_call[call_id] if f.tenant_id == owner]
                if own:
                    calls.append(_call_values(fold_call(own), seen_at))
            if calls:
                await conn.execute(UPSERT_CALLS, *_transpose(calls, len(CALL_COLUMNS)))
            return len(inserted)

    async def open_calls(
        self,
        silent_since: datetime,
        seen_after: datetime,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> list[OpenCall]:
        """Calls without a terminal status and without news since ``silent_since``."""
        at, key = after if after is not None else (None, None)
        async with translated("finding open calls"), self._pool.acquire() as conn:
            rows = await conn.fetch(OPEN_CALLS, silent_since, seen_after, limit, at, key)
        return [OpenCall(**dict(r)) for r in rows]

    async def record_messages(self, rows: Sequence[MessageRow]) -> int:
        """Merge ``rows`` into messages and conversations in one transaction."""
        cutoff = self._partitions.cutoff()
        merged: dict[str, MessageRow] = {}
        for row in rows:
            if row.occurred_at < cutoff:
                log.warning("message event past retention skipped", message_id=row.message_id)
                continue
            seen = merged.get(row.message_id)
            merged[row.message_id] = row if seen is None else merge_message(seen, row)
        if not merged:
            return 0
        first = self._first_sightings(
            (m.message_id, m.tenant_id, m.occurred_at) for m in merged.values()
        )
        try:
            async with translated("storing messages"):
                await self._partitions.ensure_days(at.date() for _, at in first.values())
                await self._write_messages(merged, first)
        except StoreUnavailableError:
            self._partitions.forget()
            raise
        return len(merged)

    async def _write_messages(
        self, merged: dict[str, MessageRow], first: dict[str, tuple[str, datetime]]
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            index = await self._index(conn, "message_index", "message_id", first)
            values = []
            conversations: dict[tuple[str, str], _ConversationRow] = {}
            for message_id in sorted(merged):
                m = merged[message_id]
                owner, seen_at, _ = index[message_id]
                values.append(_message_values(m, owner, seen_at))
                at = m.sent_at or m.status_at or m.occurred_at
                key = (owner, m.conversation_id)
                row = _ConversationRow(
                    owner,
                    m.conversation_id,
                    m.channel,
                    m.business_channel_id,
                    m.contact,
                    m.contact_name,
                    seen_at,
                    at,
                    at,
                )
                known = conversations.get(key)
                conversations[key] = row if known is None else known.merge(row)
            await conn.execute(UPSERT_MESSAGES, *_transpose(values, len(MESSAGE_COLUMNS)))
            await conn.execute(
                UPSERT_CONVERSATIONS,
                *_transpose([astuple(v) for _, v in sorted(conversations.items())], 9),
            )


@dataclass(frozen=True, slots=True)
class _ConversationRow:
    tenant_id: str
    conversation_id: str
    channel: str
    business_channel_id: str
    contact: str
    contact_name: str | None
    seen_at: datetime
    first_message_at: datetime
    last_message_at: datetime

    def merge(self, other: "_ConversationRow") -> "_ConversationRow":
        names = [n for n in (self.contact_name, other.contact_name) if n is not None]
        return replace(
            self,
            contact_name=min(names) if names else None,
            seen_at=min(self.seen_at, other.seen_at),
            first_message_at=min(self.first_message_at, other.first_message_at),
            last_message_at=max(self.last_message_at, other.last_message_at),
        )


def _call_values(row: CallRow, seen_at: datetime) -> list[object]:
    values: list[object] = []
    for name, _ in CALL_COLUMNS:
        values.append(seen_at if name == "seen_at" else getattr(row, name))
    return values


def _message_values(row: MessageRow, owner: str, seen_at: datetime) -> list[object]:
    values: list[object] = []
    for name, _ in MESSAGE_COLUMNS:
        if name == "seen_at":
            values.append(seen_at)
        elif name == "tenant_id":
            values.append(owner)
        else:
            values.append(getattr(row, name))
    return values


async def create_pool(
    dsn: str, min_size: int, max_size: int, server_settings: dict[str, str] | None = None
) -> "asyncpg.Pool[asyncpg.Record]":
    """A connection pool; JSON is passed as text, so no codecs are needed."""
    try:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, server_settings=server_settings
        )
    except (asyncpg.PostgresError, OSError) as exc:
        raise StoreUnavailableError(f"cannot connect to PostgreSQL: {exc!r}") from exc
