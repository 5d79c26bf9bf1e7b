"""Writes a batch of call facts in one transaction, a handful of statements whatever its size.

First sightings are upserted into ``call_index`` (which fixes each row's partition, locks the
batch's calls in key order, and counts the transaction in each call's version); while that
runs, each touched call's row is recomputed from all its events with :func:`fold_columns`, on
the guess that the call is as this process last wrote it (its stored events remembered:
:mod:`~switchboard.history.adapters.recent_events`) or new. The lock's answer checks the guess
(the version says whether anyone else has written the call since); where it was wrong, the
stored events' ids are read (payloads only of those this process does not remember) and the
rows folded again. The rows are COPYed into ``calls`` (new calls) or upserted while the new
events' rows are built, then the batch's new events are COPYed into ``call_events``. A COPY
that meets a key stored after all sends the batch again the row-by-row way (``INSERT … ON
CONFLICT``, :meth:`CallWriter.write` with ``safe``). The lock and the upsert take their
arguments packed (:mod:`~switchboard.history.adapters.packing`); the lock answers with one row
of arrays.

Which statement writes a ``calls`` row: ``COPY calls`` for a call new in this batch
(``_write_copied``), ``UPSERT_CALLS(_PACKED)`` for one seen before (``_upsert_calls``), and
the same upsert for both on the row-by-row way.
"""

import asyncio
import functools
import operator
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import NamedTuple, TypeVar

import asyncpg

from switchboard.common.events import EVENT_TYPES
from switchboard.history.adapters.packing import pack, transpose
from switchboard.history.adapters.recent_events import (
    RECENT_CALLS,
    FirstSeen,
    Memory,
    RecentEvents,
    Sighting,
    memory_after,
)
from switchboard.history.adapters.sql import (
    CALL_COLUMN_NAMES,
    CALL_COLUMNS,
    EVENT_COLUMNS,
    INDEX_COLUMNS,
    INSERT_EVENTS,
    LOAD_EVENT_DATA,
    LOAD_EVENTS,
    LOCK_CALLS_PACKED,
    UPSERT_CALL_INDEX,
    UPSERT_CALLS,
    UPSERT_CALLS_PACKED,
)
from switchboard.history.models import CallFact, fold_columns

_R = TypeVar("_R")
_T = TypeVar("_T")

Row = tuple[object, ...]
"""A ``calls`` or ``call_events`` row, its values in the statement's column order."""


class Folded(NamedTuple):
    """The batch folded against what is stored."""

    stored: dict[str, list[CallFact]]
    """The stored events of the batch's calls seen before, by call."""
    new: list[CallFact]
    """The batch's events not stored yet."""
    fresh: list[Row]
    """The rows of the calls new in this batch (COPYed)."""
    known: list[Row]
    """The rows of the calls seen before (upserted)."""


class CallWriter:
    """Writes call facts; remembers the last ``recent_calls`` calls' stored events."""

    def __init__(
        self, pool: "asyncpg.Pool[asyncpg.Record]", recent_calls: int = RECENT_CALLS
    ) -> None:
        self._pool = pool
        self._recent = RecentEvents(recent_calls)

    async def write(self, facts: list[CallFact], first: dict[str, FirstSeen], *, safe: bool) -> int:
        """Write the batch in one transaction; how many events were new. COPY (``safe``: row
        by row, known keys skipped or updated). The batch's calls are locked first (in key
        order): their events are written by no one else until this transaction ends, so what
        is loaded is all there is."""
        async with self._pool.acquire() as conn, conn.transaction():
            write = self._write_row_by_row if safe else self._write_copied
            inserted, memory = await write(conn, facts, first)
        self._recent.remember(memory)  # committed: these are the calls' events now
        return len(inserted)

    async def _lock_calls(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        first: dict[str, FirstSeen],
        expected: dict[str, Sighting] | None = None,
    ) -> dict[str, Sighting]:
        """Upsert the calls' ``call_index`` rows, locked in key order, each call's version
        bumped by this transaction. ``expected`` itself when the rows are as it says."""
        ids = sorted(first)
        columns = (ids, [first[i][0] for i in ids], [first[i][1] for i in ids])
        packed = pack(columns, INDEX_COLUMNS)
        if packed is None:
            rows = await conn.fetch(UPSERT_CALL_INDEX, *columns)
            # by position (id, tenant_id, seen_at, version): faster than by name
            return {r[0]: Sighting(r[1], r[2], r[3]) for r in rows}
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
            i: Sighting(t, datetime.fromtimestamp(at, UTC), v)
            for i, t, at, v in zip(got_ids, tenants, seen, versions, strict=True)
        }

    async def _write_copied(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        first: dict[str, FirstSeen],
    ) -> tuple[list[CallFact], Memory]:
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
            return [], memory_after(by_call, [], index)
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
            lambda: memory_after(by_call, new, index),
        )
        return new, memory

    def _fold(
        self,
        facts: list[CallFact],
        stored: dict[str, list[CallFact]],
        index: dict[str, Sighting],
    ) -> Folded:
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
        return Folded(by_call, new, fresh, known_rows)

    async def _write_row_by_row(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        first: dict[str, FirstSeen],
    ) -> tuple[list[CallFact], Memory]:
        """``INSERT … ON CONFLICT``: events whose id is stored are skipped, calls' rows that
        exist are updated. Nothing remembered is trusted, every stored event is read back."""
        index = await self._lock_calls(conn, first)
        by_call = await self._stored_events(conn, facts, index, trust_memory=False)
        stored = {f.event_id for events in by_call.values() for f in events}
        new = [f for f in facts if f.event_id not in stored]
        if not new:
            return [], memory_after(by_call, [], index)
        records = _new_event_rows(new, index)
        columns = transpose(records, len(EVENT_COLUMNS))
        keep = {r["event_id"] for r in await conn.fetch(INSERT_EVENTS, *columns)}
        inserted = [f for f in new if f.event_id in keep]
        fresh, known = _fold_calls(inserted, by_call, index)
        if fresh or known:
            await _upsert_calls(conn, known + fresh)
        return inserted, memory_after(by_call, inserted, index)

    async def _stored_events(
        self,
        conn: "asyncpg.Connection[asyncpg.Record]",
        facts: list[CallFact],
        index: dict[str, Sighting],
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


async def _upsert_calls(conn: "asyncpg.Connection[asyncpg.Record]", rows: list[Row]) -> None:
    columns = transpose(rows, len(CALL_COLUMNS))
    packed = pack(columns, CALL_COLUMNS)
    if packed is None:
        await conn.execute(UPSERT_CALLS, *columns)
    else:
        await conn.execute(UPSERT_CALLS_PACKED, *packed)


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


def _new_event_rows(new: list[CallFact], index: dict[str, Sighting]) -> list[Row]:
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
    index: dict[str, Sighting],
) -> tuple[list[Row], list[Row]]:
    """The rows of the calls ``written`` touches, from their ``stored`` events and these:
    those of calls new in this batch, and those of calls seen before."""
    by_call: dict[str, list[CallFact]] = {}
    for f in written:
        facts = by_call.get(f.call_id)
        if facts is None:
            facts = by_call[f.call_id] = list(stored.get(f.call_id, ()))
        facts.append(f)
    fresh: list[Row] = []
    known: list[Row] = []
    for call_id in sorted(by_call):
        owner, seen_at, version = index[call_id]
        own = [f for f in by_call[call_id] if f.tenant_id == owner]
        if own:
            (fresh if version == 0 else known).append(_call_values(fold_columns(own), seen_at))
    return fresh, known


_NULL_ROW = dict.fromkeys(CALL_COLUMN_NAMES)
_IN_ORDER = operator.itemgetter(*CALL_COLUMN_NAMES)


def _call_values(columns: dict[str, object], seen_at: datetime) -> tuple[object, ...]:
    """A folded row (:func:`fold_columns`: the columns it knows) in ``CALL_COLUMNS`` order."""
    values: tuple[object, ...] = _IN_ORDER({**_NULL_ROW, **columns, "seen_at": seen_at})
    return values
