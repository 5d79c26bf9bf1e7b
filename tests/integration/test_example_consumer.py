"""The documented example consumer of ``call.events`` (docs/examples) runs and is right:
duplicates dropped, a late older status ignored, one line per new status."""

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.common.events import CallStatus, CallStatusChanged, Event, encode, event_id
from switchboard.common.kafka import create_producer
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import fresh_group, unique
from switchboard.common.topics import CALL_EVENTS

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "docs/examples/call_events_consumer.py"


def status_event(call: str, status: CallStatus, seq: int) -> Event:
    data = CallStatusChanged(
        provider="twilio",
        call_id=call,
        status=status,
        sequence_number=seq,
        occurred_at=datetime.now(UTC),
    )
    return Event(
        id=event_id(call, status.value, seq),
        source="/test/example",
        data=data,
        subject=call,
        tenant="acme",
    )


async def test_the_example_consumer_prints_each_calls_progress(
    kafka_settings: KafkaSettings,
) -> None:
    group = await fresh_group(kafka_settings, "example-consumer", [CALL_EVENTS])
    call = unique("CA")
    ringing = status_event(call, CallStatus.RINGING, 1)
    sent = [
        status_event(call, CallStatus.INITIATED, 0),
        ringing,
        ringing,  # a duplicate delivery
        status_event(call, CallStatus.COMPLETED, 3),
        status_event(call, CallStatus.IN_PROGRESS, 2),  # arrives after the final status
    ]
    producer = create_producer(kafka_settings)
    await producer.start()
    try:
        for event in sent:
            record = encode(event, call)
            await producer.send_and_wait(
                CALL_EVENTS, record.value, key=record.key, headers=list(record.headers.items())
            )
    finally:
        await producer.stop()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(EXAMPLE), "--bootstrap", kafka_settings.bootstrap_servers,
         "--group", group, "--idle-s", "5"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    mine = [(line["status"], line["tenant"]) for line in lines if line["call"] == call]
    assert mine == [("initiated", "acme"), ("ringing", "acme"), ("completed", "acme")]
