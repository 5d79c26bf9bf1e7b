"""Real PostgreSQL: a fresh migrated database per test module, a clock tests can move."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import unique
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.postgres import PostgresStore, create_pool
from switchboard.history.migrate import migrate
from switchboard.history.settings import RetentionSettings

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a day after the builders' T0


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


async def drop_database(pg: PostgresSettings, name: str) -> None:
    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database(pg_settings: PostgresSettings) -> AsyncIterator[str]:
    name = unique("history_test")
    assert await asyncio.to_thread(migrate, pg_settings, name) >= 1
    assert await asyncio.to_thread(migrate, pg_settings, name) == 0  # idempotent
    yield name
    await drop_database(pg_settings, name)


@pytest.fixture
async def pool(pg_settings: PostgresSettings, database: str):
    p = await create_pool(pg_settings.dsn(database), 1, 4)
    yield p
    await p.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def partitions(pool, clock) -> PartitionManager:
    return PartitionManager(pool, RetentionSettings(days=90, ahead_days=2), clock)


@pytest.fixture
def pg_store(pool, partitions) -> PostgresStore:
    return PostgresStore(pool, partitions)
