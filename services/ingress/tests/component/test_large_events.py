"""Webhooks whose events would exceed Kafka's record limit: reports are trimmed and accepted,
anything else gets a clear 413; nothing over the limit is ever handed to Kafka."""

import uuid

from litestar.testing import TestClient

from switchboard.common.events import CallReport
from switchboard.common.settings import KafkaSettings
from switchboard.ingress.app import create_app
from switchboard.ingress.record_limit import RecordLimit

LIMIT = 1_000_000


def oversize_metric(client: TestClient, outcome: str) -> float:  # type: ignore[type-arg]
    prefix = f'switchboard_ingress_oversize_events_total{{outcome="{outcome}"}} '
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(prefix)]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


def test_a_4_mb_vapi_report_is_accepted_with_raw_dropped_and_its_transcript_cut(
    client, kafka, sign
) -> None:
    call_id = str(uuid.uuid4())
    report = sign.long_vapi_report(call_id, 4_000_000, transcript_share=0.7)
    transcript = report["message"]["artifact"]["transcript"]
    body, headers = sign.vapi(report)
    before = oversize_metric(client, "trimmed")
    assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 200
    [(_, record)] = kafka.published
    assert RecordLimit(LIMIT).fits(record)
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallReport) and event.data.truncated
    assert set(event.data.original_sizes) == {"raw", "transcript"}
    assert event.data.original_sizes["transcript"] == len(transcript.encode())
    assert event.data.transcript and transcript.startswith(event.data.transcript)
    assert len(event.data.transcript) > 900_000  # cut by what was over, not to nothing
    assert event.data.summary == report["message"]["analysis"]["summary"]
    assert oversize_metric(client, "trimmed") == before + 1


def test_a_long_elevenlabs_transcription_is_trimmed_the_same_way(client, kafka, sign) -> None:
    sample = sign.sample("elevenlabs_post_call_transcription.json")
    turn = {"role": "user", "message": "Could you read me the whole contract again? " * 40}
    sample["data"]["transcript"] = [turn] * 1_500  # ~2.7 MB of turns
    body, headers = sign.elevenlabs(sample)
    assert client.post("/webhooks/elevenlabs", content=body, headers=headers).status_code == 200
    [(_, record)] = kafka.published
    assert RecordLimit(LIMIT).fits(record)
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallReport) and event.data.truncated
    assert set(event.data.original_sizes) == {"raw", "transcript"}


def test_an_event_that_cannot_fit_gets_413_with_a_reason_and_nothing_is_published(
    client, kafka, sign
) -> None:
    before = oversize_metric(client, "rejected")
    # A report whose call id alone is over the limit: nothing left to cut.
    report = sign.sample("vapi_end_of_call_report.json")
    report["message"]["call"]["id"] = "c" * 1_100_000
    body, headers = sign.vapi(report)
    answer = client.post("/webhooks/vapi", content=body, headers=headers)
    assert answer.status_code == 413
    assert answer.json()["reason"] == "event_too_large"
    assert "MAX_RECORD_BYTES" in answer.json()["detail"]
    # Not a report (nothing to trim): a signed Twilio callback with a megabyte of fields.
    path = "/webhooks/twilio/voice/status"
    body, headers = sign.twilio(path, sign.call_status(Pad="x" * 1_100_000))
    answer = client.post(path, content=body, headers=headers)
    assert answer.status_code == 413 and answer.json()["reason"] == "event_too_large"
    assert kafka.published == []
    assert oversize_metric(client, "rejected") == before + 2
    metrics = client.get("/metrics").text
    assert 'outcome="rejected_event_too_large",route="/webhooks/vapi"' in metrics
    # ...and the next webhook is published as usual.
    body, headers = sign.twilio(path, sign.call_status())
    assert client.post(path, content=body, headers=headers).status_code == 204
    assert len(kafka.published) == 1


def test_small_events_skip_the_exact_size(
    tmp_path, settings_for, config_for, kafka, sign, monkeypatch
):
    """The hot path only compares the value's length with a quarter of the limit."""

    def no_exact_size(record):  # pragma: no cover - must not run
        raise AssertionError("exact size computed for a small record")

    monkeypatch.setattr(RecordLimit, "size", staticmethod(no_exact_size))
    settings = settings_for(tmp_path).model_copy(
        update={"kafka": KafkaSettings(max_record_bytes=LIMIT)}
    )
    with TestClient(app=create_app(settings, publisher=kafka, config=config_for())) as client:
        path = "/webhooks/twilio/voice/status"
        body, headers = sign.twilio(path, sign.call_status())
        assert client.post(path, content=body, headers=headers).status_code == 204
        body, headers = sign.vapi(sign.sample("vapi_end_of_call_report.json"))
        assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 200
    assert len(kafka.published) == 2
