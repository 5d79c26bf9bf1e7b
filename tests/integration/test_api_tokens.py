"""The control plane's tokens at the service APIs, on the real servers: a running control API
(PostgreSQL, Kafka) issues keys and tokens; the history and dialer APIs run as real processes
that follow its signing keys on the config topic. Scopes, audiences, open paths, and the
start-up refusal of example or short keys outside ``local``."""

import asyncio
import base64
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from switchboard.common import migrations
from switchboard.common.auth import EXAMPLE_KEYS
from switchboard.common.config import ConfigSettings
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.settings import KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    config_env,
    eventually,
    free_port,
    unique,
)
from switchboard.control.app import create_api, open_plane
from switchboard.control.settings import ControlSettings, RelaySettings
from switchboard.history.migrate import migrate as migrate_history

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

RING = base64.b64encode(b"t" * 32).decode()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def control_settings(
    pg_settings: PostgresSettings, kafka_settings: KafkaSettings
) -> AsyncIterator[ControlSettings]:
    settings = ControlSettings(
        database=unique("control_tokens"),
        postgres=pg_settings,
        kafka=kafka_settings,
        crypto=KeyRingSettings(keys={"r1": RING}, current_key_id="r1"),
        config=ConfigSettings(
            topic=unique("control.config.tokens"),
            keys={"d1": RING},
            current_key_id="d1",
            poll_timeout_ms=200,
        ),
        relay=RelaySettings(interval_s=0.05, housekeeping_interval_s=1.0),
    )
    yield settings
    await asyncio.to_thread(migrations.drop_database, pg_settings, settings.database)


def api_process(name: str, module: str, env: dict[str, str], logdir: Path) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        name,
        [module, "api"],
        {**env, "SWITCHBOARD_API__PORT": str(port), "SWITCHBOARD_HTTP__API_PORT": str(port)},
        port,
        logdir,
    )


@pytest.fixture
def service_apis(
    control_settings: ControlSettings, pg_settings: PostgresSettings, tmp_path: Path
) -> Iterator[dict[str, ServiceProcess]]:
    """The history and dialer APIs as real processes, following the control plane's topic
    (no public key configured: they read the signing keys there)."""
    history_db, dialer_db = unique("history_tokens"), unique("dialer_tokens")
    migrate_history(pg_settings, history_db)
    # the topic and its distribution ring (the dialer reads the tenants' accounts there too)
    common = config_env(control_settings.config)
    apis = {
        "history": api_process(
            "history-api",
            "switchboard.history",
            {**common, "SWITCHBOARD_DATABASE": history_db},
            tmp_path,
        ),
        "dialer": api_process(
            "dialer-api",
            "switchboard.dialer",
            {**common, "SWITCHBOARD_DATABASE": dialer_db, "SWITCHBOARD_UPLOAD_PROCESSES": "0"},
            tmp_path,
        ),
    }
    try:
        for api in apis.values():
            api.wait_ready()
        yield apis
    finally:
        for api in apis.values():
            api.stop()
        migrations.drop_database(pg_settings, history_db)
        migrations.drop_database(pg_settings, dialer_db)


async def key(control: httpx.AsyncClient, operator: dict[str, str], scopes: list[str]) -> str:
    created = await control.post(
        "/v1/admin/tenants/acme/api-keys",
        json={"name": "-".join(scopes), "scopes": scopes},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


async def exchange(control: httpx.AsyncClient, api_key: str, audience: str) -> httpx.Response:
    return await control.post("/v1/tokens", json={"audience": audience}, headers=bearer(api_key))


async def token(control: httpx.AsyncClient, api_key: str, audience: str) -> str:
    issued = await exchange(control, api_key, audience)
    assert issued.status_code == 200, issued.text
    return str(issued.json()["access_token"])


CAMPAIGN = {
    "name": "autumn",
    "caller_ids": ["+12125550100"],
    "twiml": "<Response><Say>Hello</Say></Response>",
    "cps": 1,
    "max_concurrent": 1,
}


async def test_keys_exchanged_at_the_control_plane_open_only_their_own_service_and_scopes(
    control_settings: ControlSettings, service_apis: dict[str, ServiceProcess]
) -> None:
    async with open_plane(control_settings) as runtime:
        issued = await runtime.plane.create_api_key(None, "operator", ["tenants:admin"])
    async with AsyncTestClient(create_api(control_settings)) as control:
        operator = bearer(await token(control, issued.plaintext, "control"))
        tenant = await control.post(
            "/v1/admin/tenants", json={"id": "acme", "name": "Acme"}, headers=operator
        )
        assert tenant.status_code == 201, tenant.text
        reader = await key(control, operator, ["history:read"])
        planner = await key(control, operator, ["history:read", "campaigns:read"])
        caller = await key(control, operator, ["campaigns:write"])
        history_token = await token(control, reader, "history")
        history = httpx.AsyncClient(base_url=service_apis["history"].url, timeout=30)
        dialer = httpx.AsyncClient(base_url=service_apis["dialer"].url, timeout=30)
        async with history, dialer:

            async def signing_key_followed() -> bool:
                answer = await history.get("/v1/calls", headers=bearer(history_token))
                return answer.status_code == 200

            # The APIs learn the control plane's signing key from the topic (no restart).
            await eventually(signing_key_followed, timeout_s=60)
            assert (await history.get("/v1/calls", headers=bearer(history_token))).json() == {
                "items": [],
                "next_cursor": None,
            }

            # A history:read key: no dialer token at all, and its history token is no dialer
            # token either.
            assert (await exchange(control, reader, "dialer")).status_code == 403
            refused = await dialer.post(
                "/v1/campaigns", json=CAMPAIGN, headers=bearer(history_token)
            )
            assert refused.status_code == 401
            # With campaigns:read beside history:read, the dialer token reads but cannot
            # create a campaign: 403 naming the scope it lacks.
            planner_token = await token(control, planner, "dialer")
            assert (
                await dialer.get("/v1/campaigns", headers=bearer(planner_token))
            ).status_code == 200
            denied = await dialer.post(
                "/v1/campaigns", json=CAMPAIGN, headers=bearer(planner_token)
            )
            assert denied.status_code == 403 and "campaigns:write" in denied.text

            # A token minted for the dialer's audience is refused by history.
            caller_token = await token(control, caller, "dialer")
            created = await dialer.post(
                "/v1/campaigns", json=CAMPAIGN, headers=bearer(caller_token)
            )
            # Past the token and scope checks (what happens next depends on the tenant's
            # accounts, none here): neither 401 nor 403.
            assert created.status_code not in (401, 403), created.text
            assert (await history.get("/v1/calls", headers=bearer(caller_token))).status_code == 401

            # The open paths are exact: /healthzzz is not /health (no route answers it here;
            # libs/common's test_auth gives it a route and gets 401 without a token).
            for api in (history, dialer):
                assert (await api.get("/health")).status_code == 200
                lookalike = await api.get("/healthzzz")
                assert lookalike.status_code in (401, 404) and "ok" not in lookalike.text
            ready = (await history.get("/ready")).json()
            assert ready["checks"]["signing-keys"] is True

            # A suspension is in force at the services at once, for tokens already issued.
            suspended = await control.patch(
                "/v1/admin/tenants/acme", json={"status": "suspended"}, headers=operator
            )
            assert suspended.status_code == 200, suspended.text

            async def refused_at_history() -> bool:
                answer = await history.get("/v1/calls", headers=bearer(history_token))
                return answer.status_code == 403 and "suspended" in answer.text

            await eventually(refused_at_history, timeout_s=60)


def start_failure(module: str, env: dict[str, str]) -> str:
    """Start ``module``'s API; it must exit non-zero at start. Its output."""
    finished = subprocess.run(
        [sys.executable, "-m", module, "api"],
        env={**_environ(), **env, "SWITCHBOARD_API__PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode != 0, finished.stdout[-2000:] + finished.stderr[-2000:]
    return finished.stdout + finished.stderr


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_an_example_key_outside_local_stops_a_service_naming_the_setting() -> None:
    example = next(k for k in EXAMPLE_KEYS if len(k) == 44)  # a ring key of the repository
    ring = f'{{"d1": "{example}"}}'
    env = {"SWITCHBOARD_CONFIG__KEYS": ring, "SWITCHBOARD_CONFIG__CURRENT_KEY_ID": "d1"}
    out = start_failure("switchboard.history", {**env, "SWITCHBOARD_ENVIRONMENT": "production"})
    assert "SWITCHBOARD_CONFIG__KEYS holds an example key" in out, out[-3000:]


def test_a_key_under_32_bytes_stops_a_service_naming_the_setting() -> None:
    short = base64.b64encode(b"k" * 16).decode()
    env = {
        "SWITCHBOARD_ENVIRONMENT": "production",
        "SWITCHBOARD_CONFIG__KEYS": f'{{"d1": "{short}"}}',
        "SWITCHBOARD_CONFIG__CURRENT_KEY_ID": "d1",
    }
    out = start_failure("switchboard.dialer", env)
    assert "SWITCHBOARD_CONFIG__KEYS" in out and "32 bytes" in out, out[-3000:]
