"""asyncpg store for call and message history. Owns the write SQL; driver errors become ours.

One transaction per batch, a handful of statements whatever its size. Calls: first sightings
upserted into ``call_index`` (which fixes each row's partition, and locks the batch's calls in
key order); the ids of the stored events of calls seen before are read (payloads only of those
this process does not remember); the batch's new events are COPYed into ``call_events``; each
touched call's row is recomputed from all its events with :func:`fold_call` (while the COPY
runs) and COPYed (new calls) or upserted. A COPY that meets a key stored after all sends the
batch again the row-by-row way (``INSERT … ON CONFLICT``). Messages are merged column by column
with the rule of :mod:`switchboard.history.messages` (arrays through ``unnest``)."""

import asyncio
import contextlib
import operator
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import datetime
from typing import TypeVar

import asyncpg
import structlog

from switchboard.common.events import EVENT_TYPES
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.sql import (
    CALL_COLUMN_NAMES,
    CALL_COLUMNS,
    EVENT_COLUMNS,
    INSERT_EVENTS,
    LOAD_EVENT_DATA,
    LOAD_EVENTS,
    MESSAGE_COLUMNS,
    OPEN_CALLS,
    REPORTED_CONVERSATIONS,
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
_R = TypeVar("_R")
_T = TypeVar("_T")


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


RECENT_CALLS = 5_000
"""Calls whose stored events the store remembers (a call's next batch then needs only their
ids from the database, not their payloads to parse)."""


class _RecentEvents:
    """The stored events of the last ``size`` calls written, as of their last commit."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._calls: OrderedDict[str, tuple[datetime, dict[str, CallFact]]] = OrderedDict()

    def get(self, call_id: str, seen_at: datetime, event_id: str) -> CallFact | None:
        entry = self._calls.get(call_id)
        if entry is None or entry[0] != seen_at:  # another life of the call id
            return None
        return entry[1].get(event_id)

    def remember(
        self, by_call: dict[str, list[CallFact]], index: dict[str, tuple[str, datetime, bool]]
    ) -> None:
        for call_id, facts in by_call.items():
            self._calls[call_id] = (index[call_id][1], {f.event_id: f for f in facts})
            self._calls.move_to_end(call_id)
        while len(self._calls) > self._size:
            self._calls.popitem(last=False)


class PostgresStore:
    """Writes call facts and messages; one transaction per batch."""

    def __init__(
        self,
        pool: "asyncpg.Pool[asyncpg.Record]",
        partitions: PartitionManager,
        recent_calls: int = RECENT_CALLS,
    ) -> None:
        self._pool = pool
        self._partitions = partitions
        self._recent = _RecentEvents(recent_calls)

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
                try:
                    return await self._write_calls(list(unique.values()), first, safe=False)
                except asyncpg.UniqueViolationError:
                    # a COPY met a key that exists after all (an event id under another call
                    # first seen at the same instant, a calls row without its index row):
                    # the batch again, row by row, known keys skipped or updated
                    log.info("batch clashed with stored keys; writing it row by row")
                    return await self._write_calls(list(unique.values()), first, safe=True)
        except StoreUnavailableError:
            self._partitions.forget()  # a day may have been dropped under us
            raise

    async def _write_calls(
        self, facts: list[CallFact], first: dict[str, tuple[str, datetime]], *, safe: bool
    ) -> int:
        """COPY the new events and the new calls' rows (``safe``: INSERT … ON CONFLICT), upsert
        the known calls' rows. While each statement runs, the Python work of the next step
        is done (the server and this process then work at the same time)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # Locks the batch's calls (in key order): their events are written by no one else
            # until this transaction ends, so what is loaded below is all there is.
            index, payloads = await _meanwhile(
                self._index(conn, "call_index", "call_id", first),
                lambda: {f.event_id: f.data.model_dump_json() for f in facts},
            )
            by_call = await self._stored_events(conn, facts, index)
            stored = {f.event_id for known in by_call.values() for f in known}
            new = [f for f in facts if f.event_id not in stored]
            if not new:
                self._recent.remember(by_call, index)
                return 0
            rows = [_event_values(f, index[f.call_id][1], payloads[f.event_id]) for f in new]
            if safe:
                written = await conn.fetch(INSERT_EVENTS, *_transpose(rows, len(EVENT_COLUMNS)))
                keep = {r["event_id"] for r in written}
                inserted = [f for f in new if f.event_id in keep]
                fresh, known = _fold_calls(inserted, by_call, index)
                known, fresh = known + fresh, []
            else:
                # the calls' rows are folded while the events are copied
                inserted = new
                _, (fresh, known) = await _meanwhile(
                    conn.copy_records_to_table("call_events", records=rows, columns=EVENT_COLUMNS),
                    lambda: _fold_calls(new, by_call, index),
                )
            if fresh:
                await conn.copy_records_to_table("calls", records=fresh, columns=CALL_COLUMN_NAMES)
            if known:
                await conn.execute(UPSERT_CALLS, *_transpose(known, len(CALL_COLUMNS)))
        for f in inserted:
            by_call[f.call_id].append(f)
        self._recent.remember(by_call, index)  # committed: these are the calls' events now
        return len(inserted)

    async def _stored_events(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        index: dict[str, tuple[str, datetime, bool]],
    ) -> dict[str, list[CallFact]]:
        """Every stored event of the batch's calls seen before, by call. Which events those
        are is always read; their payloads only when neither the batch nor the recent
        memory has them (an event id names one event: its payload never changes)."""
        by_call: dict[str, list[CallFact]] = defaultdict(list)
        old = sorted({f.call_id for f in facts if not index[f.call_id][2]})
        if not old:
            return by_call
        in_batch = {f.event_id: f for f in facts}
        rows = await conn.fetch(LOAD_EVENTS, old, [index[c][1] for c in old])
        unknown = []
        for r in rows:
            seen_at = index[r["call_id"]][1]
            fact = in_batch.get(r["event_id"]) or self._recent.get(
                r["call_id"], seen_at, r["event_id"]
            )
            if fact is None:
                unknown.append(r)
            else:
                by_call[r["call_id"]].append(fact)
        if unknown:  # stored by an earlier batch, or by another worker: parse them back
            ids = [r["event_id"] for r in unknown]
            seen = [index[r["call_id"]][1] for r in unknown]
            payloads = {
                p["event_id"]: p["data"] for p in await conn.fetch(LOAD_EVENT_DATA, ids, seen)
            }
            for r in unknown:
                data = EVENT_TYPES[r["event_type"]].model_validate_json(payloads[r["event_id"]])
                fact = CallFact(r["event_id"], r["tenant_id"], r["call_id"], data)
                by_call[r["call_id"]].append(fact)
        return by_call

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

    async def reported_conversations(
        self, agent_call_ids: Sequence[str], seen_after: datetime
    ) -> set[str]:
        """Those of ``agent_call_ids`` whose voice-agent report is on a call seen since then."""
        async with translated("finding reported conversations"), self._pool.acquire() as conn:
            rows = await conn.fetch(REPORTED_CONVERSATIONS, list(agent_call_ids), seen_after)
        return {r["agent_call_id"] for r in rows}

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


async def _meanwhile(query: Awaitable[_R], work: Callable[[], _T]) -> tuple[_R, _T]:
    """Start ``query``, do ``work`` while the server runs it, then wait for its answer."""
    task = asyncio.ensure_future(query)
    await asyncio.sleep(0)  # the task sends the statement
    try:
        done = work()
    except BaseException:
        await asyncio.gather(task, return_exceptions=True)  # the connection is free again
        raise
    return await task, done


def _event_values(fact: CallFact, seen_at: datetime, payload: str) -> tuple[object, ...]:
    """The ``call_events`` row of ``fact`` in ``EVENT_COLUMNS`` order."""
    return (
        fact.event_id,
        seen_at,
        fact.call_id,
        fact.tenant_id,
        fact.event_type,
        fact.status.value if fact.status else None,
        fact.sequence_number,
        fact.occurred_at,
        payload,
    )


def _fold_calls(
    written: list[CallFact],
    stored: dict[str, list[CallFact]],
    index: dict[str, tuple[str, datetime, bool]],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The rows of the calls ``written`` touches, from their ``stored`` events and these:
    those of calls new in this batch, and those of calls seen before."""
    by_call: dict[str, list[CallFact]] = {}
    for f in written:
        by_call.setdefault(f.call_id, list(stored.get(f.call_id, ()))).append(f)
    fresh: list[tuple[object, ...]] = []
    known: list[tuple[object, ...]] = []
    for call_id in sorted(by_call):
        owner, seen_at, is_new = index[call_id]
        own = [f for f in by_call[call_id] if f.tenant_id == owner]
        if own:
            (fresh if is_new else known).append(_call_values(fold_call(own), seen_at))
    return fresh, known


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


_CALL_FIELDS = operator.attrgetter(*(name for name, _ in CALL_COLUMNS if name != "seen_at"))


def _call_values(row: CallRow, seen_at: datetime) -> tuple[object, ...]:
    """The row in ``CALL_COLUMNS`` order (``seen_at`` is second)."""
    values: tuple[object, ...] = _CALL_FIELDS(row)
    return (values[0], seen_at, *values[1:])


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
