"""asyncpg store for call and message history: the :class:`HistoryStore` the consumers write
through, and the reconciler's :class:`OpenCalls`. Driver errors become ours here
(:data:`~switchboard.history.adapters.pool.POSTGRES_ERRORS`).

A batch is checked here (past retention skipped, duplicates merged, each row's first sighting:
its owner and partition day, the days' partitions made), then written in one transaction by
what it writes: :class:`~switchboard.history.adapters.call_writer.CallWriter` (``calls`` and
``call_events``) or :class:`~switchboard.history.adapters.message_writer.MessageWriter`
(``messages`` and ``conversations``)."""

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import structlog

from switchboard.common.errors import translated
from switchboard.history.adapters.call_writer import CallWriter
from switchboard.history.adapters.message_writer import MessageWriter
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.pool import POSTGRES_ERRORS
from switchboard.history.adapters.recent_events import RECENT_CALLS, FirstSeen
from switchboard.history.adapters.recordings import upsert_recordings
from switchboard.history.adapters.sql import OPEN_CALLS, REPORTED_CONVERSATIONS
from switchboard.history.errors import StoreUnavailableError
from switchboard.history.messages import MessageRow, merge_message
from switchboard.history.models import CallFact, OpenCall
from switchboard.history.recordings import RecordingRow

log = structlog.get_logger(__name__)


class PostgresStore:
    """Writes call facts and messages (one transaction per batch); finds open calls."""

    def __init__(
        self,
        pool: "asyncpg.Pool[asyncpg.Record]",
        partitions: PartitionManager,
        recent_calls: int = RECENT_CALLS,
    ) -> None:
        self._pool = pool
        self._partitions = partitions
        self._calls = CallWriter(pool, recent_calls)
        self._messages = MessageWriter(pool)

    async def is_ready(self) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))

    def _first_sightings(self, items: Iterable[tuple[str, str, datetime]]) -> dict[str, FirstSeen]:
        """Per id: the tenant and (clamped to now) time of its earliest item in the batch."""
        earliest: dict[str, tuple[datetime, str]] = {}
        for key, tenant, at in items:
            seen = earliest.get(key)
            if seen is None or (at, tenant) < seen:
                earliest[key] = (at, tenant)
        now = self._partitions.now()
        return {key: (tenant, min(at, now)) for key, (at, tenant) in earliest.items()}

    async def record_recordings(self, rows: Sequence[RecordingRow]) -> None:
        await upsert_recordings(self._pool, rows)

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
                    return await self._calls.write(list(unique.values()), first, safe=False)
                except asyncpg.UniqueViolationError:
                    # a COPY met a key that exists after all (an event id under another call
                    # first seen at the same instant, a calls row without its index row):
                    # the batch again, row by row, known keys skipped or updated
                    log.info("batch clashed with stored keys; writing it row by row")
                    return await self._calls.write(list(unique.values()), first, safe=True)
        except StoreUnavailableError:
            self._partitions.forget()  # a day may have been dropped under us
            raise

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
                await self._messages.write(merged, first)
        except StoreUnavailableError:
            self._partitions.forget()
            raise
        return len(merged)

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
