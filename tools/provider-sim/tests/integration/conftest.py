"""Real processes for the end-to-end tests: the simulator, the ingress and the history worker.

Processes are ``switchboard.common.testing.ServiceProcess``.
"""

import asyncio
import json
import threading
from collections.abc import Iterator

import asyncpg
import pytest

from switchboard.common.settings import KafkaSettings, PostgresSettings
from switchboard.common.testing import ServiceProcess, free_port, fresh_group, unique
from switchboard.common.topics import (
    CALL_EVENTS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
)

READY_TIMEOUT_S = 120
ACCOUNT = "AC" + "e2e51".ljust(32, "0")
TOKEN = "sim-e2e-token"
TENANT = "sim-e2e"
INGRESS_PATH = "/webhooks/twilio/voice/status"


HISTORY_TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
Service = ServiceProcess


class Stack:
    """The three processes and what a test needs to know about them."""

    account = ACCOUNT
    token = TOKEN
    tenant = TENANT
    ingress_path = INGRESS_PATH

    def __init__(self, sim: Service, ingress: Service, history: Service, database: str) -> None:
        self.sim, self.ingress, self.history, self.database = sim, ingress, history, database


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
            "SWITCHBOARD_TWILIO__ACCOUNTS": json.dumps(
                {ACCOUNT: {"auth_tokens": [TOKEN], "tenant": TENANT}}
            ),
            "SWITCHBOARD_WHATSAPP__APPS": json.dumps(
                [{"secrets": ["local-app-secret"], "tenant": TENANT}]
            ),
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
            # Start at the topics' ends: earlier tests and benches wrote plenty.
            "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
                fresh_group(KafkaSettings(), "history-sim", HISTORY_TOPICS)
            ),
        },
        history_port,
        logdir,
    )
    services = [sim, ingress, history]
    try:
        for service in services:
            service.wait_ready()
        yield Stack(sim, ingress, history, database)
    finally:
        for service in services:
            service.stop()
        drop_database(pg_settings, database)
