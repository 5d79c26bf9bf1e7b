"""Runbook "Drain and restore the ingress spool", run for real: an ingress restarted while Kafka
is away verifies webhooks with the configuration it saved beside its spool, answers them from
its fsync'd spool and is stopped with rows still in it; a new ingress started on the same spool
directory drains every one of them to Kafka."""

import asyncio
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from pydantic import SecretStr

from switchboard.common.config import Channel, TwilioAccount
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import (
    end_offsets,
    eventually,
    free_port,
    read_records,
    seeded_config_env,
    twilio_signature,
)
from switchboard.common.topics import CALL_EVENTS

pytestmark = pytest.mark.integration

ACCOUNT = "AC" + uuid.uuid4().hex
TOKEN = "spool-" + uuid.uuid4().hex
CALLER_ID = "+15005550006"
PATH = "/webhooks/twilio/voice/status"
CALLS = 5


async def test_a_stopped_ingress_spool_is_drained_by_the_next_one(
    start_service: Any, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    env = {
        **await asyncio.to_thread(
            seeded_config_env,
            kafka_settings,
            [
                TwilioAccount(
                    id=ACCOUNT, tenants=("spool-tenant",), auth_tokens=(SecretStr(TOKEN),)
                ),
                Channel(kind="phone", id=CALLER_ID, tenant="spool-tenant", account_id=ACCOUNT),
            ],
        ),
        "SWITCHBOARD_SPOOL__DIRECTORY": str(spool),
        "SWITCHBOARD_SPOOL__CONFIG_SNAPSHOT_WAIT_S": "2",
    }
    # A first run with Kafka saves the control plane's configuration beside the spool.
    first = start_service("ingress-first", ["switchboard.ingress", "serve"], env)
    first.wait_ready()
    await eventually(lambda: any(spool.glob("config-snapshot.*.json")), timeout_s=30)
    first.stop()
    start = await end_offsets(kafka_settings, CALL_EVENTS)
    # Kafka unreachable: nothing listens on this port.
    down = start_service(
        "ingress-kafka-down",
        ["switchboard.ingress", "serve"],
        {**env, "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"},
    )
    down.wait_ready()  # degraded (200) once the saved configuration is in use
    sids = ["CA" + uuid.uuid4().hex for _ in range(CALLS)]
    async with httpx.AsyncClient(timeout=60) as client:
        for sid in sids:
            params = {
                "AccountSid": ACCOUNT,
                "CallSid": sid,
                "CallStatus": "completed",
                "CallDuration": "7",
                "SequenceNumber": "3",
                "From": CALLER_ID,
                "To": "+14155550100",
                "Direction": "outbound-api",
            }
            url = down.url + PATH
            answer = await client.post(
                url,
                content=urlencode(params).encode(),
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "x-twilio-signature": twilio_signature(url, params, TOKEN),
                },
            )
            assert answer.status_code == 204, answer.text  # durable: in the spool
    down.stop()
    assert list(spool.glob("*.db")), "the stopped ingress left its spool file"
    early = await read_records(
        kafka_settings, CALL_EVENTS, start, until=lambda r: False, timeout_s=2
    )
    assert not [r for r in early if r.key and r.key.decode() in sids]  # nothing reached Kafka

    # The runbook: start any ingress on the same volume; it claims the file and drains it.
    up = start_service("ingress-kafka-up", ["switchboard.ingress", "serve"], env)
    up.wait_ready()

    def drained(records: list[Any]) -> bool:
        return {r.key.decode() for r in records if r.key} >= set(sids)

    records = await read_records(kafka_settings, CALL_EVENTS, start, until=drained, timeout_s=90)
    delivered = [r.key.decode() for r in records if r.key and r.key.decode() in sids]
    assert sorted(delivered) == sorted(sids)  # every spooled event once, none lost
