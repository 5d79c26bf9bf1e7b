import time

from switchboard.common.events import CallReport, CallStatusChanged

VAPI = "/webhooks/vapi"
EL = "/webhooks/elevenlabs"


def test_vapi_end_of_call_report_becomes_a_call_report(client, kafka, sign) -> None:
    body, headers = sign.vapi(sign.sample("vapi_end_of_call_report.json"))
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 200, response.text
    [(topic, key, event)] = kafka.events()
    assert (topic, key) == ("call.events", b"f4b5c6d7-1234-4e5f-8a9b-0c1d2e3f4a5b")
    assert isinstance(event.data, CallReport)
    assert event.data.telephony_call_id == "CAfeedface00112233445566778899aabb"
    assert event.data.duration_s == 125
    assert event.data.cost == 0.1834
    assert event.data.status.value == "completed"
    assert event.tenant == "acme-vapi"


def test_vapi_status_update_and_ignored_types(client, kafka, sign) -> None:
    body, headers = sign.vapi(sign.sample("vapi_status_update.json"))
    assert client.post(VAPI, content=body, headers=headers).status_code == 200
    body, headers = sign.vapi({"message": {"type": "transcript", "call": {"id": "x"}}})
    assert client.post(VAPI, content=body, headers=headers).status_code == 200
    [(_, _, event)] = kafka.events()
    assert isinstance(event.data, CallStatusChanged)
    assert event.data.status.value == "in-progress"


def test_vapi_wrong_or_missing_secret_is_403(client, kafka, sign) -> None:
    body, headers = sign.vapi(sign.sample("vapi_status_update.json"), secret="guess")
    assert client.post(VAPI, content=body, headers=headers).status_code == 403
    del headers["x-vapi-secret"]
    assert client.post(VAPI, content=body, headers=headers).status_code == 403
    assert kafka.published == []


def test_vapi_unknown_status_is_422(client, kafka, sign) -> None:
    body, headers = sign.vapi(
        {"message": {"type": "status-update", "status": "teleported", "call": {"id": "c1"}}}
    )
    response = client.post(VAPI, content=body, headers=headers)
    assert response.status_code == 422
    assert "status" in response.json()["detail"]


def test_elevenlabs_transcription_becomes_a_call_report(client, kafka, sign) -> None:
    body, headers = sign.elevenlabs(sign.sample("elevenlabs_post_call_transcription.json"))
    assert client.post(EL, content=body, headers=headers).status_code == 200
    [(_, key, event)] = kafka.events()
    assert key == b"abc"
    assert isinstance(event.data, CallReport)
    assert event.data.telephony_call_id == "CA1111222233334444555566667777aaaa"
    assert event.data.duration_s == 22
    assert event.data.successful is True
    assert "agent: Hey there angelo" in (event.data.transcript or "")


def test_elevenlabs_stale_future_forged_and_missing_signatures_are_403(client, kafka, sign):
    sample = sign.sample("elevenlabs_post_call_transcription.json")
    for at, secret in (
        (time.time() - 31 * 60, None),
        (time.time() + 3600, None),
        (None, "wsec_other"),
    ):
        body, headers = sign.elevenlabs(sample, at=at, **({"secret": secret} if secret else {}))
        assert client.post(EL, content=body, headers=headers).status_code == 403
    body, headers = sign.elevenlabs(sample)
    del headers["elevenlabs-signature"]
    assert client.post(EL, content=body, headers=headers).status_code == 403
    assert kafka.published == []


def test_elevenlabs_audio_is_acknowledged_not_published(client, kafka, sign) -> None:
    body, headers = sign.elevenlabs(
        {
            "type": "post_call_audio",
            "event_timestamp": 1,
            "data": {"conversation_id": "abc", "full_audio": "AAAA"},
        }
    )
    assert client.post(EL, content=body, headers=headers).status_code == 200
    assert kafka.published == []
