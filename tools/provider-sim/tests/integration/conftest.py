"""Real processes for the end-to-end tests: the simulator, the ingress and the history worker.

Processes are ``switchboard.common.testing.ServiceProcess``.
"""

import asyncio
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    ConfigEntity,
    ConfigSettings,
    ModelPrice,
    PlanLimits,
    Tenant,
    TwilioAccount,
    WhatsAppAccount,
)
from switchboard.common.settings import CommonSettings, PostgresSettings
from switchboard.common.testing import (
    ConfigPublisher,
    ServiceProcess,
    config_env,
    config_settings,
    eventually,
    free_port,
    fresh_group,
    unique,
)
from switchboard.common.topics import (
    CALL_EVENTS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
)
from switchboard.providersim.settings import LOCAL_ACCOUNT, LOCAL_TOKEN

ROOT = Path(__file__).resolve().parents[4]

READY_TIMEOUT_S = 120
ACCOUNT = "AC" + "e2e51".ljust(32, "0")
TOKEN = "sim-e2e-auth-token"
TENANT = "sim-e2e"
INGRESS_PATH = "/webhooks/twilio/voice/status"
LOCAL_CALLER_ID = "+12125550199"
"""The number make up's local account calls from in the reconciler test."""
CALLER_IDS = ("+15005550006", "+12125550100", "+13125550100", "+14155550100")
"""The demo's and the tests' caller IDs: the tenant's numbers on the control plane."""
WHATSAPP_APP, WABA, PHONE_NUMBER_ID = "sim-e2e-app", "100000000000001", "200000000000001"
"""The simulator's WhatsApp defaults (WABA, phone_number_id) under an app of the tenant."""


def control_plane() -> list[ConfigEntity]:
    """What the control plane publishes for this stack: the tenant's accounts and channels."""
    return [
        TwilioAccount(id=ACCOUNT, tenants=(TENANT,), auth_tokens=(SecretStr(TOKEN),)),
        *(
            Channel(kind="phone", id=number, tenant=TENANT, account_id=ACCOUNT)
            for number in CALLER_IDS
        ),
        # make up's local account (its lost callbacks the reconciler closes), with a number
        TwilioAccount(id=LOCAL_ACCOUNT, tenants=(TENANT,), auth_tokens=(SecretStr(LOCAL_TOKEN),)),
        Channel(kind="phone", id=LOCAL_CALLER_ID, tenant=TENANT, account_id=LOCAL_ACCOUNT),
        WhatsAppAccount(
            id=WHATSAPP_APP,
            tenants=(TENANT,),
            app_secrets=(SecretStr("local-app-secret"),),
            waba_ids=(WABA,),
        ),
        Channel(
            kind="whatsapp",
            id=PHONE_NUMBER_ID,
            tenant=TENANT,
            account_id=WHATSAPP_APP,
            waba_id=WABA,
        ),
        # The model the AI service's businesses use by default, offered by the operator.
        ModelPrice(
            id="gpt-4o-mini",
            input_per_1k_usd=Decimal("0.00015"),
            output_per_1k_usd=Decimal("0.0006"),
        ),
    ]


HISTORY_TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
Service = ServiceProcess


def local_env(service: str, prefix: str, **given: str) -> dict[str, str]:
    """The ``prefix`` variables ``make up`` gives ``service``: scripts/local/common.env and
    scripts/local/<service>.env sourced as scripts/services.sh sources them, with ``given``
    (e.g. the simulator's port) in the environment."""
    script = 'set -a; source "$1/common.env"; [[ -f "$1/$2.env" ]] && source "$1/$2.env"; env -0'
    clean = {k: v for k, v in os.environ.items() if not k.startswith(prefix)}
    out = subprocess.run(
        ["bash", "-c", script, "local-env", str(ROOT / "scripts/local"), service],
        env={**clean, **given},
        capture_output=True,
        check=True,
    ).stdout.decode()
    pairs = (line.split("=", 1) for line in out.split("\0") if "=" in line)
    return {k: v for k, v in pairs if k.startswith(prefix)}


class Stack:
    """The three processes and what a test needs to know about them."""

    account = ACCOUNT
    token = TOKEN
    tenant = TENANT
    ingress_path = INGRESS_PATH
    local_caller_id = LOCAL_CALLER_ID

    def __init__(
        self,
        sim: Service,
        ingress: Service,
        history: Service,
        database: str,
        config: ConfigSettings,
    ) -> None:
        self.sim, self.ingress, self.history, self.database = sim, ingress, history, database
        self.config = config
        """The stack's control.config (publish more with ConfigPublisher)."""

    async def set_plan(self, calls_per_second: float, concurrent_calls: int) -> None:
        """The tenant's plan and its Twilio account's limits, both at these values: the limits
        a dialer campaign of the stack runs under, as the control plane says."""
        async with ConfigPublisher(CommonSettings().kafka, self.config) as publisher:
            await publisher.put(
                Tenant(
                    id=TENANT,
                    name="Sim e2e",
                    limits=PlanLimits(
                        calls_per_second=calls_per_second, concurrent_calls=concurrent_calls
                    ),
                ),
                TwilioAccount(
                    id=ACCOUNT,
                    tenants=(TENANT,),
                    auth_tokens=(SecretStr(TOKEN),),
                    cps=calls_per_second,
                    max_concurrent=concurrent_calls,
                ),
            )

    async def bind_whatsapp(self, number: str) -> None:
        """Bind a phone_number_id of the simulator's WABA to the tenant, and wait until the
        ingress has applied it (a message sent before would be nobody's: unowned.events)."""
        before = await self._applied()
        async with ConfigPublisher(CommonSettings().kafka, self.config) as publisher:
            await publisher.put(
                Channel(
                    kind="whatsapp", id=number, tenant=TENANT, account_id=WHATSAPP_APP, waba_id=WABA
                )
            )

        async def applied() -> bool:
            return await self._applied() > before

        await eventually(applied, timeout_s=60)

    async def _applied(self) -> float:
        """control.config records the ingress has applied (its /metrics)."""
        async with httpx.AsyncClient(timeout=30) as client:
            text = (await client.get(self.ingress.url + "/metrics")).text
        prefix = 'switchboard_config_records_total{outcome="applied"} '
        return sum(float(x.removeprefix(prefix)) for x in text.splitlines() if x.startswith(prefix))


def drop_database(pg: PostgresSettings, database: str) -> None:
    """Drop the test's database (in a thread: this may run while an event loop exists)."""

    async def drop() -> None:
        conn = await asyncpg.connect(pg.dsn("postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()

    worker = threading.Thread(target=asyncio.run, args=(drop(),))
    worker.start()
    worker.join(timeout=60)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, pg_settings: PostgresSettings
) -> Iterator[Stack]:
    logdir = tmp_path_factory.mktemp("sim-e2e-logs")
    config = config_settings()

    async def publish() -> None:
        async with ConfigPublisher(CommonSettings().kafka, config) as publisher:
            await publisher.put(*control_plane())

    asyncio.run(publish())
    database = unique("history_sim")
    sim_port, ingress_port, history_port = free_port(), free_port(), free_port()
    common = {"SWITCHBOARD_LOG__LEVEL": "INFO"}
    sim = Service(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            **common,
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TIME_SCALE": "0.01",
            "SWITCHBOARD_SIM__SEED": "7",
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {ACCOUNT: {"auth_token": TOKEN, "cps": 100, "queue_size": 1000}}
            ),
        },
        sim_port,
        logdir,
    )
    ingress = Service(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            **common,
            "SWITCHBOARD_HTTP__PORT": str(ingress_port),
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path_factory.mktemp("sim-e2e-spool")),
            **config_env(config),
        },
        ingress_port,
        logdir,
    )
    history = Service(
        "history",
        ["switchboard.history", "worker"],
        {
            **common,
            "SWITCHBOARD_HTTP__PORT": str(history_port),
            "SWITCHBOARD_DATABASE": database,
            # The reconciler as make up sets it: asking this simulator, with the accounts of
            # the stack's control.config (make up's local account among them).
            **local_env("history", "SWITCHBOARD_RECONCILE__", SWITCHBOARD_SIM_PORT=str(sim_port)),
            **config_env(config),
            # Start at the topics' ends: earlier tests and benches wrote plenty.
            "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
                fresh_group(CommonSettings().kafka, "history-sim", HISTORY_TOPICS)
            ),
        },
        history_port,
        logdir,
    )
    services = [sim, ingress, history]
    try:
        for service in services:
            service.wait_ready()
        yield Stack(sim, ingress, history, database, config)
    finally:
        for service in services:
            service.stop()
        drop_database(pg_settings, database)
