"""Twilio's recording status callback against the real Kafka: signed → the recording event
read back from call.events keyed by CallSid; forged → 403 and nothing published."""

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from switchboard.common.events import CallRecordingStatus, decode
from switchboard.common.kafka import ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import end_offsets, read_records
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.app import create_app

pytestmark = pytest.mark.integration
ROUTE = "/webhooks/twilio/voice/recording?channel=%2B15005550006"  # the tenant's caller ID


@pytest.fixture(scope="module")
def live(
    tmp_path_factory, kafka_settings: KafkaSettings, settings_for, config_for
) -> Iterator[TestClient]:
    asyncio.run(ensure_topics(kafka_settings, [CALL_EVENTS]))
    settings = settings_for(tmp_path_factory.mktemp("spool"))
    with TestClient(app=create_app(settings, config=config_for())) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["status"] != "ready":
            assert time.monotonic() < deadline, "producer never connected"
            time.sleep(0.2)
        yield client


def form(account: str, call_sid: str) -> dict[str, str]:
    return {
        "AccountSid": account,
        "CallSid": call_sid,
        "RecordingSid": "RE" + uuid.uuid4().hex,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingStatus": "completed",
        "RecordingDuration": "12",
        "RecordingStartTime": "Mon, 23 Nov 2026 13:00:00 +0000",
    }


def test_signed_recording_callback_on_kafka_and_forged_is_403(live, kafka_settings, signer) -> None:
    forged_sid, call_sid = "CA" + uuid.uuid4().hex, "CA" + uuid.uuid4().hex
    start = asyncio.run(end_offsets(kafka_settings, CALL_EVENTS))
    body, headers = signer.twilio(ROUTE, form(signer.account, forged_sid), token="forged")
    assert live.post(ROUTE, content=body, headers=headers).status_code == 403
    params = form(signer.account, call_sid)
    body, headers = signer.twilio(ROUTE, params)
    assert live.post(ROUTE, content=body, headers=headers).status_code == 204

    records = asyncio.run(
        read_records(
            kafka_settings,
            CALL_EVENTS,
            start,
            until=lambda rs: any(r.key == call_sid.encode() for r in rs),
            timeout_s=30,
        )
    )
    assert not any(r.key == forged_sid.encode() for r in records)  # published before it: no
    [record] = [r for r in records if r.key == call_sid.encode()]
    assert dict(record.headers)["ce_type"] == b"switchboard.call.recording.v1"
    data = decode(record.headers, record.value).data
    assert isinstance(data, CallRecordingStatus)
    assert (data.recording_id, data.duration_s) == (params["RecordingSid"], 12)
