"""Real PostgreSQL: a fresh migrated database per test module, a clock tests can move."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, post

from switchboard.common import migrations
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import unique
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.pool import create_pool
from switchboard.history.adapters.postgres import PostgresStore
from switchboard.history.migrate import migrate
from switchboard.history.settings import RetentionSettings
from switchboard.providersim.app import create_app
from switchboard.providersim.server import ThreadServer
from switchboard.providersim.settings import SimSection, SimSettings

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a day after the builders' T0


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


async def drop_database(pg: PostgresSettings, name: str) -> None:
    await asyncio.to_thread(migrations.drop_database, pg, name)


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


# --- the provider simulator (tools/provider-sim), in a thread, for the reconciler ---------------

ELEVENLABS_KEY = "el-test-xi-api-key-0123"


class Receiver:
    """An HTTP server that keeps the body of every POST (the webhooks the simulator sends)."""

    def __init__(self) -> None:

        self.bodies: list[bytes] = []

        @post("/{path:path}", status_code=200)
        async def catch(request: Request[Any, Any, Any]) -> None:
            self.bodies.append(await request.body())

        self.server = ThreadServer(Litestar(route_handlers=[catch])).start()
        self.url = self.server.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.stop()


class Sim:
    """A running simulator: ``http`` talks to it (control API under ``/_sim``)."""

    api_key = ELEVENLABS_KEY

    def __init__(self) -> None:

        config = SimSection(time_scale=0.001, elevenlabs={"api_key": ELEVENLABS_KEY})
        self.server = ThreadServer(create_app(SimSettings(sim=config)))
        self.server.start()
        self.url = self.server.url
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def run_elevenlabs(self, count: int, webhook_url: str | None) -> list[dict[str, Any]]:
        """``count`` finished conversations, their webhooks sent to ``webhook_url`` (``None``:
        lost); returns them as the simulator keeps them."""
        before = {c["conversation_id"] for c in self.conversations()}
        self.http.patch("/_sim/config", json={"elevenlabs": {"webhook_url": webhook_url}})
        started = self.http.post(
            "/_sim/scenarios/elevenlabs", json={"count": count, "rate": 0, "duration_s": 0}
        )
        name = started.json()["scenario"]
        deadline = time.monotonic() + 30
        while self.http.get("/_sim/scenarios").json()[name] != "done":
            assert time.monotonic() < deadline, "the scenario did not finish"
            time.sleep(0.02)
        return [c for c in self.conversations() if c["conversation_id"] not in before]

    def conversations(self) -> list[dict[str, Any]]:
        return list(self.http.get("/_sim/voice-agents").json()["elevenlabs"])


@pytest.fixture
def sim() -> Iterator[Sim]:
    s = Sim()
    yield s
    s.http.close()
    s.server.stop()
