"""Dialer fixtures: the fakes of ``fakes.py`` (a provider, a settable clock), settings, and
(for integration tests) a fresh database and Redis prefix per test."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.config import InMemoryConfig
from switchboard.common.migrations import drop_database
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import ServiceProcess, free_port, unique
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.adapters.redis_pacer import RedisPacer
from switchboard.dialer.errors import NotPlaced, PlaceUnknown, Throttled
from switchboard.dialer.settings import DialerSettings, WorkerSettings

from .fakes import FakeClock, FakePlacer, fake_config

SIGNER = LocalSigner()


def dialer_settings(
    database: str = "dialer", upload_processes: int = 0, **worker: object
) -> DialerSettings:
    return DialerSettings(
        database=database,
        redis_prefix=unique("dialer_test"),
        auth=SIGNER.settings(),
        worker=WorkerSettings(**worker),  # type: ignore[arg-type]
        upload_processes=upload_processes,
    )


@pytest.fixture
def config() -> InMemoryConfig:
    """The control plane's view: acme and globex share ACCOUNT, each with its own numbers."""
    return fake_config()


@pytest.fixture
def accounts(config: InMemoryConfig) -> Accounts:
    return Accounts(config)


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
def pacer(settings: DialerSettings, redis_client: aioredis.Redis) -> RedisPacer:
    """The real pacer under the test's Redis prefix (a placed call holds its slot an hour:
    only the test ends calls)."""
    return RedisPacer(
        redis_client,
        settings.redis_prefix,
        claim_lease_s=settings.worker.claim_lease_s,
        placed_lease_s=3600,
        throttle_backoff_s=0.2,
        throttle_recover_s=1.0,
    )


@pytest.fixture
def signer() -> LocalSigner:
    """The signer the API of ``dialer_settings`` trusts."""
    return SIGNER


@pytest.fixture
def token():
    def make(tenant: str) -> dict[str, str]:
        return SIGNER.bearer(tenant, Audience.DIALER)

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
