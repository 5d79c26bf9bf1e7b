"""asyncpg store for call and message history. Owns the write SQL; driver errors become ours.

One transaction per batch, a handful of statements whatever its size. Calls: first sightings
upserted into ``call_index`` (which fixes each row's partition, locks the batch's calls in key
order, and counts the transaction in each call's version); while that runs, each touched
call's row is recomputed from all its events with :func:`fold_columns`, on the guess that the
call is as this process last wrote it (its stored events remembered) or new. The lock's answer
checks the guess (the version says whether anyone else has written the call since); where it
was wrong, the stored events' ids are read (payloads only of those this process does not
remember) and the rows folded again. The rows are COPYed (new calls) or upserted while the new
events' rows are built, then the batch's new events are COPYed into ``call_events``. A COPY
that meets a key stored after all sends the batch again the row-by-row way (``INSERT … ON
CONFLICT``). The lock and the upsert take their arguments packed (a string per text column, Unix
seconds per timestamp: :mod:`~switchboard.history.adapters.packing`), which asyncpg
encodes several times faster than arrays; the lock answers with one row of arrays. Messages
are merged column by column with the rule of :mod:`switchboard.history.messages` (arrays
through ``unnest``)."""

import asyncio
import functools
import operator
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import UTC, datetime
from typing import Final, NamedTuple, TypeVar

import asyncpg
import structlog

from switchboard.common.errors import ErrorTable, translated
from switchboard.common.events import EVENT_TYPES
from switchboard.history.adapters.packing import pack, transpose
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.sql import (
    CALL_COLUMN_NAMES,
    CALL_COLUMNS,
    EVENT_COLUMNS,
    INDEX_COLUMNS,
    INSERT_EVENTS,
    LOAD_EVENT_DATA,
    LOAD_EVENTS,
    LOCK_CALLS_PACKED,
    MESSAGE_COLUMNS,
    OPEN_CALLS,
    REPORTED_CONVERSATIONS,
    UPSERT_CALL_INDEX,
    UPSERT_CALLS,
    UPSERT_CALLS_PACKED,
    UPSERT_CONVERSATIONS,
    UPSERT_INDEX,
    UPSERT_MESSAGES,
)
from switchboard.history.errors import StoreRejectedError, StoreUnavailableError
from switchboard.history.messages import MessageRow, merge_message
from switchboard.history.models import CallFact, OpenCall, fold_columns

log = structlog.get_logger(__name__)
_R = TypeVar("_R")
_T = TypeVar("_T")


POSTGRES_ERRORS: Final[ErrorTable] = (
    # "no partition for row": a day was dropped under us (the partitions are made again)
    (asyncpg.CheckViolationError, StoreUnavailableError),
    # bad encoding, NUL in text, out-of-range value: the same data fails every time
    ((asyncpg.DataError, asyncpg.IntegrityConstraintViolationError), StoreRejectedError),
    # anything else asyncpg raises (the server's errors, a lost connection and the client
    # state it leaves) may pass on a retry
    (
        (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError),
        StoreUnavailableError,
    ),
)
"""asyncpg errors → ours (:func:`~switchboard.common.errors.translated`)."""


async def _upsert_calls(
    conn: "asyncpg.Connection[asyncpg.Record]", rows: list[tuple[object, ...]]
) -> None:
    columns = transpose(rows, len(CALL_COLUMNS))
    packed = pack(columns, CALL_COLUMNS)
    if packed is None:
        await conn.execute(UPSERT_CALLS, *columns)
    else:
        await conn.execute(UPSERT_CALLS_PACKED, *packed)


RECENT_CALLS = 5_000
"""Calls whose stored events the store remembers: when no one else has written such a call
since, its next batch reads none of them back (else only their ids, not their payloads)."""


class _Sighting(NamedTuple):
    """A call's ``call_index`` row as this transaction locked it."""

    tenant_id: str
    seen_at: datetime
    version: int
    """0 when this transaction saw the call first (no events stored, no ``calls`` row)."""


def _next(left: _Sighting) -> _Sighting:
    """The row as the next transaction to write the call locks it."""
    return _Sighting(left.tenant_id, left.seen_at, left.version + 1)


class _RecentEvents:
    """The stored events of the last ``size`` calls written, as of this process's last commit
    of each, with the call's ``call_index`` row as that commit left it."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._calls: OrderedDict[str, tuple[_Sighting, dict[str, CallFact]]] = OrderedDict()

    def get(self, call_id: str, seen_at: datetime, event_id: str) -> CallFact | None:
        """A stored event of the call (an event id names one event: it never changes)."""
        entry = self._calls.get(call_id)
        if entry is None or entry[0].seen_at != seen_at:  # another life of the call id
            return None
        return entry[1].get(event_id)

    def all_stored(self, call_id: str, locked: _Sighting) -> list[CallFact] | None:
        """Every stored event of the call when the version this transaction took is the next
        one after this process's last commit of it (no one else has written it since);
        ``None`` when that is not known."""
        entry = self._calls.get(call_id)
        if entry is None or _next(entry[0]) != locked:
            return None
        return list(entry[1].values())

    def expected(self, first: dict[str, tuple[str, datetime]]) -> dict[str, _Sighting]:
        """The ``call_index`` row each call will most likely be found locked in: the next
        version of the one this process left; else a first sighting (this batch's)."""
        expected = {}
        for call_id, (tenant, at) in first.items():
            entry = self._calls.get(call_id)
            expected[call_id] = _Sighting(tenant, at, 0) if entry is None else _next(entry[0])
        return expected

    def remember(self, entries: "_Memory") -> None:
        """Only once committed (see :func:`_memory_after`)."""
        for call_id, entry in entries.items():
            self._calls[call_id] = entry
            self._calls.move_to_end(call_id)
        while len(self._calls) > self._size:
            self._calls.popitem(last=False)


_Memory = dict[str, tuple[_Sighting, dict[str, CallFact]]]


def _memory_after(
    by_call: dict[str, list[CallFact]], written: list[CallFact], index: dict[str, _Sighting]
) -> _Memory:
    """What to remember of the batch's calls once it commits: the events ``by_call`` had
    stored, and those this transaction ``written``; with the rows it locked."""
    entries: _Memory = {}
    for call_id, facts in by_call.items():
        entries[call_id] = (index[call_id], {f.event_id: f for f in facts})
    for f in written:
        entry = entries.get(f.call_id)
        if entry is None:
            entry = entries[f.call_id] = (index[f.call_id], {})
        entry[1][f.event_id] = f
    return entries


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
        earliest: dict[str, tuple[datetime, str]] = {}
        for key, tenant, at in items:
            seen = earliest.get(key)
            if seen is None or (at, tenant) < seen:
                earliest[key] = (at, tenant)
        now = self._partitions.now()
        return {key: (tenant, min(at, now)) for key, (at, tenant) in earliest.items()}

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

    async def _lock_calls(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        first: dict[str, tuple[str, datetime]],
        expected: dict[str, _Sighting] | None = None,
    ) -> dict[str, _Sighting]:
        """Upsert the calls' ``call_index`` rows, locked in key order, each call's version
        bumped by this transaction. ``expected`` itself when the rows are as it says."""
        ids = sorted(first)
        columns = (ids, [first[i][0] for i in ids], [first[i][1] for i in ids])
        packed = pack(columns, INDEX_COLUMNS)
        if packed is None:
            rows = await conn.fetch(UPSERT_CALL_INDEX, *columns)
            # by position (id, tenant_id, seen_at, version): faster than by name
            return {r[0]: _Sighting(r[1], r[2], r[3]) for r in rows}
        (locked,) = await conn.fetch(LOCK_CALLS_PACKED, *packed)  # an aggregate's one row
        got_ids, tenants, seen, versions = locked
        if expected is not None and got_ids == ids:
            guess = [expected[i] for i in ids]
            if (
                versions == [g.version for g in guess]
                and tenants == [g.tenant_id for g in guess]
                and seen == [g.seen_at.timestamp() for g in guess]
            ):
                return expected
        return {
            i: _Sighting(t, datetime.fromtimestamp(at, UTC), v)
            for i, t, at, v in zip(got_ids, tenants, seen, versions, strict=True)
        }

    async def record_call_facts(self, facts: Sequence[CallFact]) -> int:
        """Store ``facts`` in one transaction; return how many events were new."""
        cutoff = self._partitions.cutoff()
        unique = {f.event_id: f for f in facts if f.occurred_at >= cutoff}
        if len(unique) < len(facts) and len(unique) < len({f.event_id for f in facts}):
            log.warning("call events past retention skipped", cutoff=cutoff.isoformat())
        if not unique:
            return 0
        first = self._first_sightings(
            (f.call_id, f.tenant_id, f.occurred_at) for f in unique.values()
        )
        try:
            async with translated("storing call events", POSTGRES_ERRORS):
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
        """Write the batch in one transaction: COPY (``safe``: row by row, known keys skipped
        or updated). The batch's calls are locked first (in key order): their events are
        written by no one else until this transaction ends, so what is loaded is all there
        is."""
        async with self._pool.acquire() as conn, conn.transaction():
            write = self._write_row_by_row if safe else self._write_copied
            inserted, memory = await write(conn, facts, first)
        self._recent.remember(memory)  # committed: these are the calls' events now
        return len(inserted)

    async def _write_copied(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        first: dict[str, tuple[str, datetime]],
    ) -> tuple[list[CallFact], _Memory]:
        """Each step's Python work is done while the server runs the previous statement:
        the calls' rows are folded while ``call_index`` is locked (on the guess, checked
        against what the lock returns, that each call is as this process last left it, or
        new); they are written while the new events' rows are built; the events are COPYed
        while what to remember is gathered."""
        expected = self._recent.expected(first)
        index, folded = await _meanwhile(
            self._lock_calls(conn, first, expected), lambda: self._fold(facts, {}, expected)
        )
        if index != expected:  # written by another process since, or forgotten: read back
            folded = self._fold(facts, await self._stored_events(conn, facts, index), index)
        by_call, new, fresh, known = folded
        if not new:
            return [], _memory_after(by_call, [], index)
        if fresh and known:
            await conn.copy_records_to_table("calls", records=fresh, columns=CALL_COLUMN_NAMES)
            fresh = []
        write: Awaitable[object] | None = None
        if fresh:
            write = conn.copy_records_to_table("calls", records=fresh, columns=CALL_COLUMN_NAMES)
        elif known:
            write = _upsert_calls(conn, known)
        rows = functools.partial(_new_event_rows, new, index)
        # no calls row to write: only events of other tenants than the calls' own
        records = rows() if write is None else (await _meanwhile(write, rows))[1]
        _, memory = await _meanwhile(
            conn.copy_records_to_table("call_events", records=records, columns=EVENT_COLUMNS),
            lambda: _memory_after(by_call, new, index),
        )
        return new, memory

    def _fold(
        self,
        facts: list[CallFact],
        stored: dict[str, list[CallFact]],
        index: dict[str, _Sighting],
    ) -> tuple[
        dict[str, list[CallFact]],
        list[CallFact],
        list[tuple[object, ...]],
        list[tuple[object, ...]],
    ]:
        """The stored events of the batch's calls seen before (``stored``, else those this
        process remembers for the versions ``index`` gives), the batch's new events, and the
        rows of the calls they touch: new calls', known calls'."""
        by_call = dict(stored)
        for call_id, locked in index.items():
            if locked.version and call_id not in by_call:
                known = self._recent.all_stored(call_id, locked)
                if known is not None:
                    by_call[call_id] = known
        seen = {f.event_id for events in by_call.values() for f in events}
        new = [f for f in facts if f.event_id not in seen]
        fresh, known_rows = _fold_calls(new, by_call, index)
        return by_call, new, fresh, known_rows

    async def _write_row_by_row(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        first: dict[str, tuple[str, datetime]],
    ) -> tuple[list[CallFact], _Memory]:
        """``INSERT … ON CONFLICT``: events whose id is stored are skipped, calls' rows that
        exist are updated. Nothing remembered is trusted, every stored event is read back."""
        index = await self._lock_calls(conn, first)
        by_call = await self._stored_events(conn, facts, index, trust_memory=False)
        stored = {f.event_id for events in by_call.values() for f in events}
        new = [f for f in facts if f.event_id not in stored]
        if not new:
            return [], _memory_after(by_call, [], index)
        records = _new_event_rows(new, index)
        columns = transpose(records, len(EVENT_COLUMNS))
        keep = {r["event_id"] for r in await conn.fetch(INSERT_EVENTS, *columns)}
        inserted = [f for f in new if f.event_id in keep]
        fresh, known = _fold_calls(inserted, by_call, index)
        if fresh or known:
            await _upsert_calls(conn, known + fresh)
        return inserted, _memory_after(by_call, inserted, index)

    async def _stored_events(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        index: dict[str, _Sighting],
        *,
        trust_memory: bool = True,
    ) -> dict[str, list[CallFact]]:
        """Every stored event of the batch's calls seen before, by call. Those of a call no
        one else has written since this process did are remembered (``trust_memory``); of
        the others, which events they are is read, and their payloads only when neither the
        batch nor the recent memory has them (an event id names one event)."""
        by_call: dict[str, list[CallFact]] = defaultdict(list)
        old = []
        for call_id in sorted({f.call_id for f in facts if index[f.call_id].version}):
            known = self._recent.all_stored(call_id, index[call_id]) if trust_memory else None
            if known is None:
                old.append(call_id)
            else:
                by_call[call_id] = known
        if not old:
            return by_call
        in_batch = {f.event_id: f for f in facts}
        rows = await conn.fetch(LOAD_EVENTS, old, [index[c].seen_at for c in old])
        unknown = []
        for r in rows:
            seen_at = index[r["call_id"]].seen_at
            fact = in_batch.get(r["event_id"]) or self._recent.get(
                r["call_id"], seen_at, r["event_id"]
            )
            if fact is None:
                unknown.append(r)
            else:
                by_call[r["call_id"]].append(fact)
        if unknown:  # stored by an earlier batch, or by another worker: parse them back
            ids = [r["event_id"] for r in unknown]
            seen = [index[r["call_id"]].seen_at for r in unknown]
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
        async with translated("finding open calls", POSTGRES_ERRORS), self._pool.acquire() as conn:
            rows = await conn.fetch(OPEN_CALLS, silent_since, seen_after, limit, at, key)
        return [OpenCall(**dict(r)) for r in rows]

    async def reported_conversations(
        self, agent_call_ids: Sequence[str], seen_after: datetime
    ) -> set[str]:
        """Those of ``agent_call_ids`` whose voice-agent report is on a call seen since then."""
        async with (
            translated("finding reported conversations", POSTGRES_ERRORS),
            self._pool.acquire() as conn,
        ):
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
            async with translated("storing messages", POSTGRES_ERRORS):
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
            await conn.execute(UPSERT_MESSAGES, *transpose(values, len(MESSAGE_COLUMNS)))
            await conn.execute(
                UPSERT_CONVERSATIONS,
                *transpose([astuple(v) for _, v in sorted(conversations.items())], 9),
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


def _new_event_rows(new: list[CallFact], index: dict[str, _Sighting]) -> list[tuple[object, ...]]:
    """The ``call_events`` rows of ``new`` in ``EVENT_COLUMNS`` order."""
    seen_at = {call_id: locked.seen_at for call_id, locked in index.items()}
    return [
        (
            f.event_id,
            seen_at[f.call_id],
            f.call_id,
            f.tenant_id,
            f.event_type,
            str(f.status) if f.status else None,  # its value (a StrEnum), but faster
            f.sequence_number,
            f.occurred_at,
            f.data.model_dump_json(),
        )
        for f in new
    ]


def _fold_calls(
    written: list[CallFact],
    stored: dict[str, list[CallFact]],
    index: dict[str, _Sighting],
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The rows of the calls ``written`` touches, from their ``stored`` events and these:
    those of calls new in this batch, and those of calls seen before."""
    by_call: dict[str, list[CallFact]] = {}
    for f in written:
        facts = by_call.get(f.call_id)
        if facts is None:
            facts = by_call[f.call_id] = list(stored.get(f.call_id, ()))
        facts.append(f)
    fresh: list[tuple[object, ...]] = []
    known: list[tuple[object, ...]] = []
    for call_id in sorted(by_call):
        owner, seen_at, version = index[call_id]
        own = [f for f in by_call[call_id] if f.tenant_id == owner]
        if own:
            (fresh if version == 0 else known).append(_call_values(fold_columns(own), seen_at))
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


_NULL_ROW = dict.fromkeys(CALL_COLUMN_NAMES)
_IN_ORDER = operator.itemgetter(*CALL_COLUMN_NAMES)


def _call_values(columns: dict[str, object], seen_at: datetime) -> tuple[object, ...]:
    """A folded row (:func:`fold_columns`: the columns it knows) in ``CALL_COLUMNS`` order."""
    values: tuple[object, ...] = _IN_ORDER({**_NULL_ROW, **columns, "seen_at": seen_at})
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


async def _no_session_state(conn: "asyncpg.Connection[asyncpg.Record]") -> None:
    """A released connection needs no reset query (``RESET ALL``, ``UNLISTEN *``, …): this
    service leaves no session state (no ``SET``, ``LISTEN``, held cursor or session advisory
    lock), and asyncpg rolls back a transaction left open anyway. One round trip less per
    batch."""


async def create_pool(
    dsn: str, min_size: int, max_size: int, server_settings: dict[str, str] | None = None
) -> "asyncpg.Pool[asyncpg.Record]":
    """A connection pool; JSON is passed as text, so no codecs are needed."""
    with translated("cannot connect to PostgreSQL", POSTGRES_ERRORS):
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
            reset=_no_session_state,
        )
