"""PostgresCallStore and migrations against the real PostgreSQL."""

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import unique
from switchboard.history.adapters.postgres import PostgresCallStore, create_pool
from switchboard.history.migrate import migrate
from switchboard.history.models import to_record

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(pg_settings: PostgresSettings) -> AsyncIterator[str]:
    name = unique("history_test")
    applied = await asyncio.to_thread(migrate, pg_settings, name)
    assert applied >= 1
    assert await asyncio.to_thread(migrate, pg_settings, name) == 0  # idempotent
    yield name
    conn = await asyncpg.connect(pg_settings.dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def pool(pg_settings: PostgresSettings, database: str):
    p = await create_pool(pg_settings.dsn(database), 1, 4)
    yield p
    await p.close()


def records(events):
    return [to_record(e, "dflt") for e in events]


async def test_duplicates_leave_one_event_and_one_call(pool, make_event) -> None:
    store = PostgresCallStore(pool)
    event = make_event("ringing", 1)
    assert await store.record_call_events(records([event, event])) == 1
    assert await store.record_call_events(records([event])) == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM call_events") == 1
        assert await conn.fetchval("SELECT count(*) FROM calls") == 1


async def test_out_of_order_batches_converge_to_the_final_state(pool, make_event, lifecycle):
    store = PostgresCallStore(pool)
    events = [
        make_event(s, q, call_id=f"CA-{i}", duration=30 if s == "completed" else None)
        for i in range(6)
        for s, q in lifecycle
    ]
    rng = random.Random(7)
    shuffled = events + events[:5]  # with duplicates
    rng.shuffle(shuffled)
    for i in range(0, len(shuffled), 4):
        await store.record_call_events(records(shuffled[i : i + 4]))
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, sequence_number, duration_s, tenant_id, "
            "from_number FROM calls ORDER BY call_id"
        )
    assert len(rows) == 6
    assert {tuple(r) for r in rows} == {("completed", 3, 30, "acme", "+1500")}


async def test_store_reports_ready(pool) -> None:
    assert await PostgresCallStore(pool).is_ready()
