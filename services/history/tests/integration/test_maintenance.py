"""Partition maintenance on the real PostgreSQL never holds history writes behind a reader.

Dropping a partition takes an ACCESS EXCLUSIVE lock on its parent, which waits for every
transaction reading that table (a slow CSV export) — and every write queues behind the waiting
request. With a ``lock_timeout`` the drop gives up instead, writes go on, and maintenance tries
again with backoff until the reader is gone.
"""

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY

from switchboard.common.kafka import RetryPolicy
from switchboard.common.testing import eventually
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.postgres import PostgresStore
from switchboard.history.models import to_fact
from switchboard.history.settings import RetentionSettings

pytestmark = pytest.mark.integration


def lock_timeouts() -> float:
    value = REGISTRY.get_sample_value(
        "switchboard_history_maintenance_failures_total", {"reason": "lock_timeout"}
    )
    return value or 0.0


async def drop_waits_for_a_lock(conn: "asyncpg.Connection[asyncpg.Record]") -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND query LIKE 'DROP TABLE%'"
    )
    return bool(waiting)


async def test_a_drop_behind_a_reader_gives_up_so_writes_go_on_and_finishes_later(
    pool, pg_settings, database, clock, ev
) -> None:
    retention = RetentionSettings(
        days=90,
        ahead_days=2,
        lock_timeout_s=0.5,
        retry=RetryPolicy(attempts=1000, initial_backoff_s=0.2, max_backoff_s=1.0),
    )
    partitions = PartitionManager(pool, retention, clock)
    store = PostgresStore(pool, partitions)
    await store.record_call_facts([to_fact(ev.call("ringing", 1, call_id="CA-old"), "dflt")])
    clock.advance(days=91)  # the old call's day is past retention now
    today = clock.now.date()
    await partitions.ensure_days(today + timedelta(n) for n in range(3))
    failed_before = lock_timeouts()

    reader = await asyncpg.connect(pg_settings.dsn(database))
    watcher = await asyncpg.connect(pg_settings.dsn(database))
    maintenance: asyncio.Task[object] | None = None
    try:
        # a reader that read the old partition and keeps its transaction open (a slow export)
        export = reader.transaction()
        await export.start()
        assert await reader.fetchval("SELECT count(*) FROM calls") == 1
        maintenance = asyncio.create_task(partitions.maintain())
        await eventually(lambda: drop_waits_for_a_lock(watcher), timeout_s=60, interval_s=0.02)

        # a history write while the drop is pending and the reader still reads
        new = to_fact(ev.call("ringing", 1, call_id="CA-new", at=clock.now), "dflt")
        assert await asyncio.wait_for(store.record_call_facts([new]), timeout=60) == 1
        assert not maintenance.done()
        await eventually(lambda: lock_timeouts() > failed_before, timeout_s=60)

        await export.rollback()  # the export ends: the drop gets its lock on the next try
        result = await asyncio.wait_for(maintenance, timeout=120)
    finally:
        if maintenance is not None and not maintenance.done():
            maintenance.cancel()
        await reader.close()
        await watcher.close()
    assert result.dropped == 3  # the old day of calls, call_events, messages
    async with pool.acquire() as conn:
        assert [r["call_id"] for r in await conn.fetch("SELECT call_id FROM calls")] == ["CA-new"]
        assert not await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%_p20261101'"
        )
