"""Nothing the ingress publishes exceeds the broker's limit, and one large webhook holds back no
other: a signed Vapi end-of-call report of 879 KiB (the raw body plus the transcript again made
a 1.35 MB record, over the producer's 1 MiB request limit, which then blocked the spool for
good) reaches the real Kafka trimmed, and a webhook sent after it is published too."""

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from switchboard.common.events import CallReport, CallStatusChanged, decode
from switchboard.common.kafka import ensure_topics, record_size
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import end_offsets, read_records
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.app import create_app

pytestmark = pytest.mark.integration
REPORT_BYTES = 879 * 1024


@pytest.fixture
def live(tmp_path, kafka_settings: KafkaSettings, settings_for, config_for) -> Iterator[TestClient]:
    asyncio.run(ensure_topics(kafka_settings, [CALL_EVENTS]))
    settings = settings_for(tmp_path).model_copy(update={"kafka": kafka_settings})
    with TestClient(app=create_app(settings, config=config_for())) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["status"] != "ready":
            assert time.monotonic() < deadline, "producer never connected"
            time.sleep(0.2)
        yield client


def test_an_879_kib_vapi_report_reaches_kafka_trimmed_and_holds_nothing_back(
    live, kafka_settings, signer
) -> None:
    call_id = str(uuid.uuid4())
    after = "CA" + uuid.uuid4().hex
    start = asyncio.run(end_offsets(kafka_settings, CALL_EVENTS))
    report = signer.long_vapi_report(call_id, REPORT_BYTES)
    body, headers = signer.vapi(report)
    assert len(body) >= REPORT_BYTES
    answer = live.post("/webhooks/vapi", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    path = "/webhooks/twilio/voice/status"
    body, headers = signer.twilio(path, signer.call_status(CallSid=after))
    assert live.post(path, content=body, headers=headers).status_code == 204

    wanted = {call_id.encode(), after.encode()}
    records = asyncio.run(
        read_records(
            kafka_settings,
            CALL_EVENTS,
            start,
            until=lambda rs: wanted <= {r.key for r in rs},
            timeout_s=60,
        )
    )
    by_key = {r.key: r for r in records if r.key in wanted}
    assert set(by_key) == wanted, "the report or the webhook after it never reached Kafka"
    big = by_key[call_id.encode()]
    assert record_size(big.key, big.value, big.headers) <= kafka_settings.max_record_bytes
    data = decode(big.headers, big.value).data
    assert isinstance(data, CallReport)
    assert data.truncated is True
    compact = json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode()
    assert data.raw == {} and data.original_sizes["raw"] == len(compact)
    # raw alone made room: the transcript is whole
    assert data.transcript == report["message"]["artifact"]["transcript"]
    assert "transcript" not in data.original_sizes
    small = by_key[after.encode()]
    assert isinstance(decode(small.headers, small.value).data, CallStatusChanged)
    assert live.get("/ready").json()["status"] == "ready"  # nothing left in the spool
