"""Every route's accepted path against the real Kafka: the event is read back from its topic
with the CloudEvents headers, keyed for per-entity order."""

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from switchboard.common.events import decode
from switchboard.common.kafka import ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import end_offsets, read_records
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS
from switchboard.ingress.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(
    tmp_path_factory, kafka_settings: KafkaSettings, settings_for, config_for
) -> Iterator[TestClient]:
    asyncio.run(ensure_topics(kafka_settings, [CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS]))
    settings = settings_for(tmp_path_factory.mktemp("spool"))
    with TestClient(app=create_app(settings, config=config_for())) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["status"] != "ready":
            assert time.monotonic() < deadline, "producer never connected"
            time.sleep(0.2)
        yield client


def read_back(kafka_settings, topic, start, key: bytes, count: int = 1):
    records = asyncio.run(
        read_records(
            kafka_settings,
            topic,
            start,
            until=lambda rs: sum(r.key == key for r in rs) >= count,
            timeout_s=30,
        )
    )
    return [r for r in records if r.key == key]


def offsets(kafka_settings, topic):
    return asyncio.run(end_offsets(kafka_settings, topic))


def test_twilio_call_status_on_kafka(live, kafka_settings, signer) -> None:
    call_sid = "CA" + uuid.uuid4().hex
    start = offsets(kafka_settings, CALL_EVENTS)
    body, headers = signer.twilio(
        "/webhooks/twilio/voice/status", signer.call_status(CallSid=call_sid)
    )
    headers["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert (
        live.post("/webhooks/twilio/voice/status", content=body, headers=headers).status_code == 204
    )
    [record] = read_back(kafka_settings, CALL_EVENTS, start, call_sid.encode())
    h = dict(record.headers)
    assert h["ce_type"] == b"switchboard.call.status.v1"
    assert h["ce_specversion"] == b"1.0"
    assert h["ce_tenant"] == b"acme"
    assert h["ce_subject"] == call_sid.encode()
    # the webhook's trace continues in the message
    assert h["traceparent"].startswith(b"00-4bf92f3577b34da6a3ce929d0e0e4736-")
    assert decode(record.headers, record.value).data.call_id == call_sid  # type: ignore[attr-defined]


def test_twilio_sms_and_status_on_kafka(live, kafka_settings, signer) -> None:
    contact = "+1415555" + str(uuid.uuid4().int)[:4]
    key = f"+15005550006:{contact}".encode()
    inbound, status = (
        offsets(kafka_settings, MESSAGE_INBOUND),
        offsets(kafka_settings, MESSAGE_STATUS),
    )
    body, headers = signer.twilio(
        "/webhooks/twilio/messaging",
        {
            "AccountSid": signer.account,
            "MessageSid": "SM" + uuid.uuid4().hex,
            "From": contact,
            "To": "+15005550006",
            "Body": "hi",
        },
    )
    assert live.post("/webhooks/twilio/messaging", content=body, headers=headers).status_code == 200
    body, headers = signer.twilio(
        "/webhooks/twilio/messaging/status",
        {
            "AccountSid": signer.account,
            "MessageSid": "SM" + uuid.uuid4().hex,
            "MessageStatus": "delivered",
            "From": "+15005550006",
            "To": contact,
        },
    )
    assert (
        live.post("/webhooks/twilio/messaging/status", content=body, headers=headers).status_code
        == 204
    )
    [received] = read_back(kafka_settings, MESSAGE_INBOUND, inbound, key)
    [delivered] = read_back(kafka_settings, MESSAGE_STATUS, status, key)
    assert dict(received.headers)["ce_type"] == b"switchboard.message.inbound.v1"
    assert dict(delivered.headers)["ce_type"] == b"switchboard.message.status.v1"


def test_whatsapp_batch_on_kafka(live, kafka_settings, signer) -> None:
    payload = signer.sample("whatsapp_text_and_status.json")
    contact = str(uuid.uuid4().int)[:11]
    for entry in payload["entry"]:
        value = entry["changes"][0]["value"]
        for m in value.get("messages", []):
            m["from"] = contact
            m["id"] = "wamid." + uuid.uuid4().hex
        for s in value.get("statuses", []):
            s["recipient_id"] = contact
    key = f"106540352242922:{contact}".encode()
    inbound, status = (
        offsets(kafka_settings, MESSAGE_INBOUND),
        offsets(kafka_settings, MESSAGE_STATUS),
    )
    body, headers = signer.whatsapp(payload)
    assert live.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    assert len(read_back(kafka_settings, MESSAGE_INBOUND, inbound, key, count=2)) == 2
    assert len(read_back(kafka_settings, MESSAGE_STATUS, status, key)) == 1


def test_whatsapp_location_and_unknown_status_on_kafka(live, kafka_settings, signer) -> None:
    """A non-text message keeps what it carries, and a status value we do not rank is published
    as it is, under its own type, on the real broker."""
    payload = signer.sample("whatsapp_text_and_status.json")
    contact = str(uuid.uuid4().int)[:11]
    first, second = (e["changes"][0]["value"] for e in payload["entry"])
    first["messages"] = [
        {
            "from": contact,
            "id": "wamid." + uuid.uuid4().hex,
            "timestamp": "1749416383",
            "type": "location",
            "location": {"latitude": 52.52, "longitude": 13.405, "name": "Alexanderplatz"},
        }
    ]
    second["statuses"][0].update(recipient_id=contact, status="played")
    key = f"106540352242922:{contact}".encode()
    inbound, status = (
        offsets(kafka_settings, MESSAGE_INBOUND),
        offsets(kafka_settings, MESSAGE_STATUS),
    )
    body, headers = signer.whatsapp(payload)
    assert live.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    [location] = read_back(kafka_settings, MESSAGE_INBOUND, inbound, key)
    [played] = read_back(kafka_settings, MESSAGE_STATUS, status, key)
    data = decode(location.headers, location.value).data
    assert data.content.location.name == "Alexanderplatz"  # type: ignore[attr-defined]
    assert dict(played.headers)["ce_type"] == b"switchboard.message.status.other.v1"
    assert decode(played.headers, played.value).data.status == "played"  # type: ignore[attr-defined]


def test_vapi_and_elevenlabs_on_kafka(live, kafka_settings, signer) -> None:
    report = signer.sample("vapi_end_of_call_report.json")
    report["message"]["call"]["id"] = call_id = str(uuid.uuid4())
    transcription = signer.sample("elevenlabs_post_call_transcription.json")
    transcription["data"]["conversation_id"] = conv_id = uuid.uuid4().hex
    start = offsets(kafka_settings, CALL_EVENTS)
    body, headers = signer.vapi(report)
    assert live.post("/webhooks/vapi", content=body, headers=headers).status_code == 200
    body, headers = signer.elevenlabs(transcription)
    assert live.post("/webhooks/elevenlabs", content=body, headers=headers).status_code == 200
    [vapi] = read_back(kafka_settings, CALL_EVENTS, start, call_id.encode())
    [el] = read_back(kafka_settings, CALL_EVENTS, start, conv_id.encode())
    assert (
        dict(vapi.headers)["ce_type"]
        == dict(el.headers)["ce_type"]
        == (b"switchboard.call.report.v1")
    )


def test_vapi_sync_request_answered_and_its_exchange_on_kafka(live, kafka_settings, signer) -> None:
    """No voice API configured here: the fallback is answered, and the exchange is durable
    (the assistant is the conftest's, bound to acme-vapi)."""
    call_id = str(uuid.uuid4())
    start = offsets(kafka_settings, CALL_EVENTS)
    body, headers = signer.vapi(
        {
            "message": {
                "type": "assistant-request",
                "call": {"id": call_id, "phoneNumberId": "pn-kafka", "assistantId": "asst-42"},
                "phoneNumber": {"id": "pn-kafka", "number": "+14155550100"},
            }
        }
    )
    answer = live.post("/webhooks/vapi", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert "error" in answer.json()
    [record] = read_back(kafka_settings, CALL_EVENTS, start, call_id.encode())
    event = decode(record.headers, record.value)
    assert event.type == "switchboard.call.assistant_requested.v1"
    assert event.data.outcome == "fallback_error"
    assert event.data.answer == answer.json()
    assert event.tenant == "acme-vapi"
