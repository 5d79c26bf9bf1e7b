"""The demo's dialer campaign end to end: the real dialer API and worker call the simulator,
whose signed callbacks go through the real ingress and Kafka back to the dialer and history."""

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from rich.console import Console

from switchboard.common.auth import LocalSigner
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
from switchboard.providersim.demo_campaign import CampaignDemo, campaign_table, run_campaign
from switchboard.providersim.tokens import SignerTokens

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SIGNER = LocalSigner()


CAP = 5


@pytest.fixture(scope="module")
def dialer(stack, tmp_path_factory, pg_settings: PostgresSettings) -> Iterator[ServiceProcess]:
    logdir = tmp_path_factory.mktemp("dialer-demo-logs")
    database = unique("dialer_demo")
    worker_port, api_port = free_port(), free_port()
    env = {
        "SWITCHBOARD_DATABASE": database,
        "SWITCHBOARD_REDIS_PREFIX": unique("dialer_demo"),
        **SIGNER.env(),
        "SWITCHBOARD_INGRESS_PUBLIC_URL": stack.ingress.url,
        "SWITCHBOARD_TWILIO__API_BASE_URL": stack.sim.url,
        # The tenant, its accounts and caller IDs: the stack's control.config.
        **config_env(stack.config),
        "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
            fresh_group(CommonSettings().kafka, "dialer-demo", (CALL_EVENTS, MESSAGE_INBOUND))
        ),
    }
    # The plan's and the account's limits the campaign runs under, as the control plane says.
    asyncio.run(stack.set_plan(calls_per_second=20, concurrent_calls=CAP))
    subprocess.run(
        [sys.executable, "-m", "switchboard.dialer", "migrate"],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    worker = ServiceProcess(
        "dialer",
        ["switchboard.dialer", "worker"],
        {**env, "SWITCHBOARD_HTTP__PORT": str(worker_port)},
        worker_port,
        logdir,
    )
    api = ServiceProcess(
        "dialer-api",
        ["switchboard.dialer", "api"],
        {**env, "SWITCHBOARD_API__PORT": str(api_port)},
        api_port,
        logdir,
    )
    try:
        worker.wait_ready()
        api.wait_ready()
        yield api
    finally:
        api.stop()
        worker.stop()
        drop_database(pg_settings, database)


async def test_the_demo_campaign_settles_every_contact_under_the_cap(
    stack, dialer, pg_settings: PostgresSettings
) -> None:
    demo = CampaignDemo(
        dialer.url,
        SignerTokens(SIGNER, stack.tenant),  # the tenant owning this account's numbers
        account_sid=stack.account,  # the tenant holds make up's local account too
        contacts=12,
        cps=10,
        max_concurrent=CAP,
        time_scale=0.05,
    )
    out = io.StringIO()
    console = Console(file=out, width=120)
    pool = await asyncpg.create_pool(pg_settings.dsn(stack.database), min_size=1, max_size=2)
    try:
        async with httpx.AsyncClient(base_url=stack.sim.url, timeout=30) as sim:
            reset = await sim.post(
                "/_sim/reset",
                json={
                    "time_scale": demo.time_scale,
                    "twilio_accounts": {
                        stack.account: {"auth_token": stack.token, "cps": 100, "queue_size": 100}
                    },
                },
            )
            reset.raise_for_status()
            result = await run_campaign(demo, sim, pool, console)
    finally:
        await pool.close()
    console.print(campaign_table(result, demo))
    report = out.getvalue()
    assert result.progress["done"] == 12, report
    assert result.provider_calls == result.progress["attempts"] >= 12, report
    assert 0 < result.peak_live <= CAP, report
    assert not any(result.breaches.values()), report
    assert result.stored_in_history == result.provider_calls, report
    assert result.ok
    assert "contacts done" in report
