"""Recordings along the whole chain, every piece a real process: a dialer campaign asks for
recordings → the dialer places its calls with ``Record=true`` and a RecordingStatusCallback →
the simulator records the answered call and posts the signed callback → the ingress verifies it
and publishes ``switchboard.call.recording.v1`` on Kafka → the history worker stores the
recording's sid, URL and duration with its call → the history API shows it, and deleting it
there deletes it at the provider (the simulator's Twilio)."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.migrations import drop_database
from switchboard.common.settings import CommonSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    config_env,
    free_port,
    fresh_group,
    unique,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND
from switchboard.providersim.demo_campaign import CALLER_IDS, contacts_csv, zone_in_hours

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SIGNER = LocalSigner()


CONTACTS = 2


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = 120.0) -> Any:
    """``check()``'s first truthy value (AssertionError past the timeout)."""
    deadline = time.monotonic() + timeout_s
    while not (value := await check()):
        assert time.monotonic() < deadline, "waited too long"
        await asyncio.sleep(0.3)
    return value


def _ports(port: int) -> dict[str, str]:
    names = ("HTTP__PORT", "API__PORT", "HTTP__API_PORT", "HTTP__WORKER_PORT")
    return {f"SWITCHBOARD_{name}": str(port) for name in names}


@pytest.fixture(scope="module")
def apis(stack, tmp_path_factory, pg_settings: PostgresSettings) -> Iterator[dict[str, str]]:
    """The dialer (worker and API, a database of its own) and a history API over the stack's
    history database, allowed to delete recordings at the simulator's Twilio account."""
    logdir = tmp_path_factory.mktemp("recording-chain-logs")
    database = unique("dialer_rec")
    dialer_env = {
        "SWITCHBOARD_DATABASE": database,
        "SWITCHBOARD_REDIS_PREFIX": unique("dialer_rec"),
        **SIGNER.env(),
        "SWITCHBOARD_INGRESS_PUBLIC_URL": stack.ingress.url,
        "SWITCHBOARD_TWILIO__API_BASE_URL": stack.sim.url,
        # The tenant, its account and caller IDs: the stack's control.config.
        **config_env(stack.config),
        "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
            fresh_group(CommonSettings().kafka, "dialer-rec", (CALL_EVENTS, MESSAGE_INBOUND))
        ),
    }
    # The plan's and the account's limits the campaign runs under, as the control plane says.
    asyncio.run(stack.set_plan(calls_per_second=20, concurrent_calls=5))
    subprocess.run(
        [sys.executable, "-m", "switchboard.dialer", "migrate"],
        env={**os.environ, **dialer_env},
        check=True,
        capture_output=True,
    )
    history_env = {
        "SWITCHBOARD_DATABASE": stack.database,
        **SIGNER.env(),
        "SWITCHBOARD_RECONCILE__TWILIO_BASE_URL": stack.sim.url,
        **config_env(stack.config),  # the account's credentials, to delete at the provider
    }
    ports = [free_port() for _ in range(3)]
    processes = [
        ServiceProcess(
            "dialer",
            ["switchboard.dialer", "worker"],
            {**dialer_env, **_ports(ports[0])},
            ports[0],
            logdir,
        ),
        ServiceProcess(
            "dialer-api",
            ["switchboard.dialer", "api"],
            {**dialer_env, **_ports(ports[1])},
            ports[1],
            logdir,
        ),
        ServiceProcess(
            "history-api",
            ["switchboard.history", "api"],
            {**history_env, **_ports(ports[2])},
            ports[2],
            logdir,
        ),
    ]
    try:
        for process in processes:
            process.wait_ready()
        yield {"dialer": processes[1].url, "history": processes[2].url}
    finally:
        for process in processes:
            process.stop()
        drop_database(pg_settings, database)


async def test_a_campaigns_recordings_are_stored_by_history_and_deleted_at_the_provider(
    stack, apis
) -> None:
    twilio = f"/2010-04-01/Accounts/{stack.account}"
    async with (
        httpx.AsyncClient(base_url=stack.sim.url, timeout=30) as sim,
        httpx.AsyncClient(
            base_url=apis["dialer"],
            headers=SIGNER.bearer(stack.tenant, Audience.DIALER),
            timeout=30,
        ) as dialer,
        httpx.AsyncClient(
            base_url=apis["history"],
            headers=SIGNER.bearer(stack.tenant, Audience.HISTORY),
            timeout=30,
        ) as history,
    ):
        reset = await sim.post(
            "/_sim/reset",
            json={
                "time_scale": 0.05,
                "outcomes": {"completed": 1, "busy": 0, "no_answer": 0, "failed": 0},
                "twilio_accounts": {
                    stack.account: {"auth_token": stack.token, "cps": 100, "queue_size": 100}
                },
            },
        )
        reset.raise_for_status()
        created = await dialer.post(
            "/v1/campaigns",
            json={
                "name": "recorded",
                "account_sid": stack.account,  # the tenant holds make up's local account too
                "caller_ids": CALLER_IDS,
                "twiml": "<Response><Say>Hello $name.</Say></Response>",
                "record": True,
                "cps": 5,
                "max_concurrent": 5,
            },
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        upload = await dialer.post(
            f"/v1/campaigns/{cid}/contacts",
            content=contacts_csv(CONTACTS, zone_in_hours(datetime.now(UTC))),
            headers={"Content-Type": "text/csv"},
        )
        upload.raise_for_status()
        (await dialer.post(f"/v1/campaigns/{cid}/start")).raise_for_status()

        auth = (stack.account, stack.token)

        async def recorded() -> list[dict[str, Any]] | None:
            page = (await sim.get(f"{twilio}/Recordings.json", auth=auth)).json()
            mine = [r for r in page["recordings"] if r["status"] == "completed"]
            return mine if len(mine) >= CONTACTS else None

        recordings = await until(recorded)

        async def shown(call_sid: str) -> list[dict[str, Any]] | None:
            answer = await history.get(f"/v1/calls/{call_sid}")
            found = answer.json().get("recordings", []) if answer.status_code == 200 else []
            return found or None

        for at_provider in recordings:
            call_sid, sid = at_provider["call_sid"], at_provider["sid"]
            [stored] = await until(lambda c=call_sid: shown(c))
            assert stored["recording_id"] == sid
            assert stored["url"] == at_provider["media_url"]
            assert stored["duration_s"] == int(at_provider["duration"]) >= 1
            assert stored["deleted_at"] is None

        # Deleting one through the history API deletes it at the provider, and only it.
        first, second = recordings[0], recordings[1]
        path = f"/v1/calls/{first['call_sid']}/recordings/{first['sid']}"
        other = SIGNER.bearer("someone-else", Audience.HISTORY)
        assert (await history.delete(path, headers=other)).status_code == 404
        assert (await sim.get(f"{twilio}/Recordings/{first['sid']}.json", auth=auth)).is_success
        deleted = await history.delete(path)
        assert deleted.status_code == 204, deleted.text
        gone = await sim.get(f"{twilio}/Recordings/{first['sid']}.json", auth=auth)
        assert gone.status_code == 404
        kept = await sim.get(f"{twilio}/Recordings/{second['sid']}.json", auth=auth)
        assert kept.status_code == 200
        [after] = (await history.get(f"/v1/calls/{first['call_sid']}")).json()["recordings"]
        assert after["deleted_at"] is not None
