"""Dialer fixtures: a fake provider, a settable clock, settings, and (for integration tests)
a fresh database and Redis prefix per test."""

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis
from pydantic import SecretStr

from switchboard.common.migrations import drop_database
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import ServiceProcess, free_port, unique
from switchboard.dialer.errors import NotPlaced, PlaceUnknown, Throttled
from switchboard.dialer.repository import ProviderCall
from switchboard.dialer.settings import (
    DialerSettings,
    TwilioAccount,
    TwilioSettings,
    WorkerSettings,
)

ACCOUNT = "AC00000000000000000000000000000001"
JWT_KEY = "test-signing-key-0123456789abcdef0123456789"


class FakeClock:
    """A clock tests set and move."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakePlacer:
    """An in-memory provider: counts calls per number, keeps them live until ``end``."""

    def __init__(self) -> None:
        self.calls: dict[str, ProviderCall] = {}
        self.per_number: Counter[str] = Counter()
        self.live: set[str] = set()
        self.max_live = 0
        self.placed_at: list[float] = []
        self.hung_up: list[str] = []
        self.failures: list[Exception] = []
        """Raised (in order) by the next place() calls."""
        self.drop_answer = False
        """Create the call but raise PlaceUnknown (the answer got lost)."""
        self._ids = itertools.count(1)

    async def place(self, account_sid, *, to, from_, twiml, url, amd, amd_message_end) -> str:
        if self.failures:
            raise self.failures.pop(0)
        sid = f"CA{next(self._ids):032d}"
        loop = asyncio.get_running_loop()
        self.placed_at.append(loop.time())
        self.calls[sid] = ProviderCall(sid, to, from_, "queued", datetime.now(UTC))
        self.per_number[to] += 1
        self.live.add(sid)
        self.max_live = max(self.max_live, len(self.live))
        if self.drop_answer:
            raise PlaceUnknown("answer lost (fake)")
        return sid

    def end(self, sid: str, status: str = "completed", answered_by: str | None = None) -> None:
        self.live.discard(sid)
        if (call := self.calls.get(sid)) is not None:
            self.calls[sid] = ProviderCall(
                sid, call.to, call.from_, status, call.created_at, answered_by
            )

    async def fetch(self, account_sid, call_sid) -> ProviderCall:
        return self.calls[call_sid]

    async def calls_to(self, account_sid, *, to, from_, since, until) -> list[ProviderCall]:
        return [c for c in self.calls.values() if c.to == to and c.from_ == from_]

    async def hang_up(self, account_sid, call_sid) -> None:
        self.hung_up.append(call_sid)


def dialer_settings(
    database: str = "dialer", upload_processes: int = 0, **worker: object
) -> DialerSettings:
    return DialerSettings(
        database=database,
        redis_prefix=unique("dialer_test"),
        auth={"jwt_key": SecretStr(JWT_KEY)},  # type: ignore[arg-type]
        twilio=TwilioSettings(
            accounts={
                ACCOUNT: TwilioAccount(auth_token=SecretStr("token"), cps=1000, max_concurrent=5000)
            }
        ),
        worker=WorkerSettings(**worker),  # type: ignore[arg-type]
        upload_processes=upload_processes,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def placer() -> FakePlacer:
    return FakePlacer()


@pytest.fixture
def failures():
    return {"throttled": Throttled, "not_placed": NotPlaced, "unknown": PlaceUnknown}


@pytest.fixture
async def database(pg_settings: PostgresSettings) -> AsyncIterator[str]:
    from switchboard.dialer.migrate import migrate

    name = unique("dialer_test")
    await asyncio.to_thread(migrate, pg_settings, name)
    yield name
    await asyncio.to_thread(drop_database, pg_settings, name)


@pytest.fixture
async def pool(pg_settings: PostgresSettings, database: str):
    p = await asyncpg.create_pool(pg_settings.dsn(database), min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture
def settings(database: str) -> DialerSettings:
    return dialer_settings(database)


@pytest.fixture
async def redis_client(settings: DialerSettings):
    client = aioredis.from_url(settings.redis.url.get_secret_value())
    yield client
    keys = [k async for k in client.scan_iter(f"{settings.redis_prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def token():
    from switchboard.common.auth import issue_token

    def make(tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(JWT_KEY, tenant)}"}

    return make


def campaign_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "autumn",
        "caller_ids": ["+12125550100", "+14155550100"],
        "twiml": "<Response><Say>Hello $name</Say></Response>",
        "cps": 50,
        "max_concurrent": 20,
        "max_attempts": 3,
        "retry_delays": {"busy": 60, "no_answer": 120, "failed": 180, "machine": 240},
    }
    body.update(overrides)
    return body


@pytest.fixture
def new_campaign():
    return campaign_body


@pytest.fixture
def make_settings():
    return dialer_settings


@pytest.fixture
def services(tmp_path):
    """Start services with ``services(name, args, env, port)``; all stopped at the end."""
    started: list[ServiceProcess] = []

    def start(name: str, args: list[str], env: dict[str, str], port: int) -> ServiceProcess:
        svc = ServiceProcess(name, args, env, port, tmp_path)
        started.append(svc)
        return svc

    yield start
    for svc in reversed(started):
        svc.stop()


@pytest.fixture
def port():
    return free_port
