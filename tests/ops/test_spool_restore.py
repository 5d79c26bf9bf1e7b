"""Runbook "Drain and restore the ingress spool", run for real: an ingress that cannot reach
Kafka answers webhooks from its fsync'd spool and is stopped with rows still in it; a new
ingress started on the same spool directory drains every one of them to Kafka."""

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import end_offsets, free_port, read_records, twilio_signature
from switchboard.common.topics import CALL_EVENTS

pytestmark = pytest.mark.integration

ACCOUNT = "AC" + uuid.uuid4().hex
TOKEN = "spool-" + uuid.uuid4().hex
PATH = "/webhooks/twilio/voice/status"
CALLS = 5


async def test_a_stopped_ingress_spool_is_drained_by_the_next_one(
    start_service: Any, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    env = {
        "SWITCHBOARD_TWILIO__ACCOUNTS": (
            f'{{"{ACCOUNT}": {{"auth_tokens": ["{TOKEN}"], "tenant": "spool-tenant"}}}}'
        ),
        "SWITCHBOARD_SPOOL__DIRECTORY": str(spool),
    }
    start = await end_offsets(kafka_settings, CALL_EVENTS)
    # Kafka unreachable: nothing listens on this port.
    down = start_service(
        "ingress-kafka-down",
        ["switchboard.ingress", "serve"],
        {**env, "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"},
    )
    down.wait_ready("/health")
    sids = ["CA" + uuid.uuid4().hex for _ in range(CALLS)]
    async with httpx.AsyncClient(timeout=60) as client:
        for sid in sids:
            params = {
                "AccountSid": ACCOUNT,
                "CallSid": sid,
                "CallStatus": "completed",
                "CallDuration": "7",
                "SequenceNumber": "3",
                "From": "+15005550006",
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
