"""The control API on the real PostgreSQL and Kafka: a fresh database and config topic per
test, an operator key, and helpers to act as tenants."""

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from switchboard.common import migrations
from switchboard.common.config import ConfigFollower, ConfigSettings
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.settings import KafkaSettings, PostgresSettings
from switchboard.common.supervise import Supervisor
from switchboard.common.testing import unique
from switchboard.control.app import Runtime, create_api, open_plane
from switchboard.control.settings import ControlSettings, RelaySettings

AT_REST_1 = base64.b64encode(b"r" * 32).decode()
AT_REST_2 = base64.b64encode(b"s" * 32).decode()
DISTRIBUTION = base64.b64encode(b"d" * 32).decode()
SID_A = "AC" + "a" * 32
SID_B = "AC" + "b" * 32


@pytest.fixture
async def settings(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[ControlSettings]:
    s = ControlSettings(
        database=unique("control_test"),
        postgres=pg_settings,
        kafka=kafka_settings,
        crypto=KeyRingSettings(keys={"r1": AT_REST_1}, current_key_id="r1"),
        config=ConfigSettings(
            topic=unique("control.config.test"),
            keys={"d1": DISTRIBUTION},
            current_key_id="d1",
            poll_timeout_ms=200,
        ),
        relay=RelaySettings(interval_s=0.05, housekeeping_interval_s=1.0),
    )
    yield s
    await asyncio.to_thread(migrations.drop_database, pg_settings, s.database)


@contextlib.asynccontextmanager
async def running_api(settings: ControlSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncTestClient(create_api(settings)) as client:
        yield client


@pytest.fixture
async def api(settings: ControlSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_api(settings) as client:
        yield client


@contextlib.asynccontextmanager
async def plane(settings: ControlSettings) -> AsyncIterator[Runtime]:
    async with open_plane(settings) as runtime:
        yield runtime


@contextlib.asynccontextmanager
async def following(settings: ControlSettings) -> AsyncIterator[ConfigFollower]:
    follower = ConfigFollower(settings.kafka, settings.config)
    supervisor = Supervisor(unique("follower"))
    supervisor.add("config", follower.run)
    async with supervisor.running():
        await follower.wait_ready(60)
        yield follower


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def token_for(
    api: httpx.AsyncClient, key: str, audience: str, scopes: list[str] | None = None
) -> str:
    body: dict[str, Any] = {"audience": audience}
    if scopes is not None:
        body["scopes"] = scopes
    response = await api.post("/v1/tokens", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@dataclass
class World:
    """An operator and two tenants, each with accounts and a tenant key for the control API."""

    api: httpx.AsyncClient
    operator: dict[str, str]
    a: dict[str, str]
    b: dict[str, str]
    sid_a: str = SID_A
    sid_b: str = SID_B

    async def token(self, key: str, audience: str, scopes: list[str] | None = None) -> str:
        return await token_for(self.api, key, audience, scopes)

    async def admin(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return await self.api.request(method, f"/v1/admin{path}", headers=self.operator, **kw)


CONTROL_SCOPES = ["control:read", "channels:write", "accounts:write", "keys:admin"]


def twilio(sid: str, tenant: str, token: str) -> dict[str, Any]:
    return {"tenants": [tenant], "auth_tokens": [token], "cps": 5, "max_concurrent": 20}


async def make_world(api: httpx.AsyncClient, settings: ControlSettings) -> World:
    async with plane(settings) as runtime:
        issued = await runtime.plane.create_api_key(None, "test operator", ["tenants:admin"])
    operator = bearer(await token_for(api, issued.plaintext, "control"))
    world = World(api, operator, {}, {})
    for tenant, sid, waba, agent_account in (
        ("acme", SID_A, "111", "el-a"),
        ("globex", SID_B, "222", "el-b"),
    ):
        assert (
            await world.admin("POST", "/tenants", json={"id": tenant, "name": tenant})
        ).status_code == 201
        r = await world.admin(
            "PUT",
            f"/accounts/twilio/{sid}",
            json=twilio(sid, tenant, f"{tenant}-auth-token-000001"),
        )
        assert r.status_code == 200, r.text
        wa = {"tenants": [tenant], "app_secrets": [f"{tenant}-app-secret-0001"], "waba_ids": [waba]}
        assert (
            await world.admin("PUT", f"/accounts/whatsapp/wa-{tenant}", json=wa)
        ).status_code == 200
        el = {"tenants": [tenant], "webhook_secrets": [f"{tenant}-webhook-secret-01"]}
        assert (
            await world.admin("PUT", f"/accounts/elevenlabs/{agent_account}", json=el)
        ).status_code == 200
        created = await world.admin(
            "POST",
            f"/tenants/{tenant}/api-keys",
            json={"name": "control", "scopes": CONTROL_SCOPES},
        )
        assert created.status_code == 201, created.text
        headers = bearer(await token_for(api, created.json()["key"], "control"))
        if tenant == "acme":
            world.a = headers
        else:
            world.b = headers
    return world


@pytest.fixture
async def world(api: httpx.AsyncClient, settings: ControlSettings) -> World:
    return await make_world(api, settings)


@pytest.fixture
def start_api(settings: ControlSettings) -> Callable[[], Any]:
    """``async with start_api() as api``: the control API, stopped at the block's end."""
    return lambda: running_api(settings)


@pytest.fixture
def follow(settings: ControlSettings) -> Callable[[], Any]:
    """``async with follow() as follower``: a service's follower, materialized."""
    return lambda: following(settings)


@pytest.fixture
def build_world(settings: ControlSettings) -> Callable[[httpx.AsyncClient], Any]:
    return lambda api: make_world(api, settings)


@pytest.fixture
def open_runtime(settings: ControlSettings) -> Callable[[], Any]:
    """``async with open_runtime() as rt``: the stores, as the CLI commands use them."""
    return lambda: plane(settings)
