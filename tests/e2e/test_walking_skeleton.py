"""The walking skeleton: real ingress and history processes over real Kafka and PostgreSQL.

A signed Twilio status callback sent over HTTP appears as a row; the same callback sent
twice leaves one row; a forged one gets 403 and leaves nothing, in the database or on Kafka.
"""

import asyncio
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from switchboard.common.config import Channel, TwilioAccount
from switchboard.common.migrations import drop_database
from switchboard.common.settings import CommonSettings, KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    end_offsets,
    eventually,
    free_port,
    fresh_group,
    read_records,
    seeded_config_env,
    twilio_signature,
    unique,
)
from switchboard.common.topics import (
    CALL_EVENTS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ACCOUNT = "AC" + "e2e".ljust(32, "0")
TOKEN = "e2e-auth-token-0001"
CALLER_ID = "+15005550006"
PATH = "/webhooks/twilio/voice/status"
READY_TIMEOUT_S = 120


HISTORY_TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
Service = ServiceProcess


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    logdir = tmp_path_factory.mktemp("e2e-logs")
    database = unique("history_e2e")
    ingress_port, history_port = free_port(), free_port()
    common = {"SWITCHBOARD_LOG__LEVEL": "INFO"}
    # The account and the caller ID, as the control plane publishes them: the ingress verifies
    # with them, history's reconciler looks calls up with them.
    config = seeded_config_env(
        CommonSettings().kafka,
        [
            TwilioAccount(id=ACCOUNT, tenants=("e2e-tenant",), auth_tokens=(SecretStr(TOKEN),)),
            Channel(kind="phone", id=CALLER_ID, tenant="e2e-tenant", account_id=ACCOUNT),
        ],
    )
    ingress = Service(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            **common,
            "SWITCHBOARD_HTTP__PORT": str(ingress_port),
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path_factory.mktemp("e2e-spool")),
            **config,
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
            **config,
            # Start at the topics' ends: earlier tests and benches wrote plenty.
            "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
                fresh_group(CommonSettings().kafka, "history-e2e", HISTORY_TOPICS)
            ),
        },
        history_port,
        logdir,
    )
    try:
        ingress.wait_ready()
        history.wait_ready()
        yield {"ingress": ingress, "history": history, "database": database}
    finally:
        ingress.stop()
        history.stop()
        asyncio.run(_drop_database(CommonSettings().postgres, database))


async def _drop_database(pg: PostgresSettings, name: str) -> None:
    await asyncio.to_thread(drop_database, pg, name)


def callback(ingress: Service, params: dict[str, str], token: str = TOKEN) -> httpx.Response:
    url = ingress.url + PATH
    return httpx.post(
        url,
        content=urlencode(params).encode(),
        timeout=30,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, token),
        },
    )


def params(call_sid: str, status: str, seq: int) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT,
        "CallSid": call_sid,
        "CallStatus": status,
        "SequenceNumber": str(seq),
        "From": CALLER_ID,
        "To": "+14155550100",
        "Direction": "outbound-api",
        "Timestamp": "Mon, 23 Nov 2026 13:00:00 +0000",
        **({"CallDuration": "17"} if status == "completed" else {}),
    }


async def fetch(
    pg: PostgresSettings, database: str, query: str, *args: object
) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def test_signed_callback_becomes_a_row_once_and_forged_one_nothing(
    stack: dict[str, object], pg_settings: PostgresSettings, kafka_settings: KafkaSettings
) -> None:
    ingress, database = stack["ingress"], str(stack["database"])
    assert isinstance(ingress, Service)
    call_sid = "CA" + uuid.uuid4().hex
    start = await end_offsets(kafka_settings, CALL_EVENTS)

    assert callback(ingress, params(call_sid, "ringing", 1)).status_code == 204

    async def row_status() -> str | None:
        rows = await fetch(
            pg_settings, database, "SELECT status FROM calls WHERE call_id = $1", call_sid
        )
        return rows[0]["status"] if rows else None

    await eventually(lambda: _eq(row_status(), "ringing"), timeout_s=60)

    # The same callback again (a provider retry) and then the call's end.
    assert callback(ingress, params(call_sid, "ringing", 1)).status_code == 204
    assert callback(ingress, params(call_sid, "completed", 2)).status_code == 204
    await eventually(lambda: _eq(row_status(), "completed"), timeout_s=60)
    calls = await fetch(
        pg_settings,
        database,
        "SELECT tenant_id, duration_s FROM calls WHERE call_id = $1",
        call_sid,
    )
    assert [tuple(r) for r in calls] == [("e2e-tenant", 17)]
    events = await fetch(
        pg_settings,
        database,
        "SELECT status FROM call_events WHERE call_id = $1 ORDER BY status",
        call_sid,
    )
    assert [r["status"] for r in events] == ["completed", "ringing"]

    # A forged callback: 403, no row, nothing on Kafka.
    forged_sid = "CA" + uuid.uuid4().hex
    assert callback(ingress, params(forged_sid, "completed", 5), token="guessed").status_code == 403
    assert not await fetch(
        pg_settings, database, "SELECT 1 FROM calls WHERE call_id = $1", forged_sid
    )
    published = await read_records(
        kafka_settings, CALL_EVENTS, start, until=lambda r: len(r) >= 3, timeout_s=20
    )
    keys = [r.key for r in published]
    assert keys.count(call_sid.encode()) == 3  # ringing twice (same id) + completed
    assert forged_sid.encode() not in keys


async def _eq(value: object, expected: object) -> bool:
    return (await value) == expected  # type: ignore[misc]
