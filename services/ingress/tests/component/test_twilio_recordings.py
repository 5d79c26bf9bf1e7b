"""Twilio's recording status callback over HTTP with the real app factory and a fake Kafka."""

from switchboard.common.events import CallRecordingStatus

RECORDING = "/webhooks/twilio/voice/recording"
# The form names no number: the dialer's callback URL names the tenant's (its caller ID).
OWNED = RECORDING + "?channel=%2B15005550006"


def _params(account: str) -> dict[str, str]:
    return {
        "AccountSid": account,
        "CallSid": "CA1",
        "RecordingSid": "RE1",
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
        "RecordingStatus": "completed",
        "RecordingDuration": "17",
        "RecordingChannels": "1",
        "RecordingSource": "OutboundAPI",
        "RecordingStartTime": "Mon, 23 Nov 2026 13:00:00 +0000",
    }


def test_signed_recording_callback_is_published_then_answered_204(client, kafka, sign) -> None:
    body, headers = sign.twilio(OWNED, _params(sign.account))
    response = client.post(OWNED, content=body, headers=headers)
    assert response.status_code == 204, response.text
    [(topic, key, event)] = kafka.events()
    assert (topic, key) == ("call.events", b"CA1")
    assert isinstance(event.data, CallRecordingStatus)
    assert (event.data.recording_id, event.data.status, event.data.duration_s) == (
        "RE1",
        "completed",
        17,
    )
    assert event.tenant == "acme"


def test_recording_callback_of_no_tenants_number_is_kept_unowned(client, kafka, sign) -> None:
    body, headers = sign.twilio(RECORDING, _params(sign.account))
    assert client.post(RECORDING, content=body, headers=headers).status_code == 204
    [(topic, _, event)] = kafka.events()
    assert topic == "unowned.events" and event.tenant is None


def test_forged_recording_callback_is_403_and_not_published(client, kafka, sign) -> None:
    body, headers = sign.twilio(OWNED, _params(sign.account), token="not-the-token")
    assert client.post(OWNED, content=body, headers=headers).status_code == 403
    assert kafka.published == []


def test_recording_callback_without_recording_sid_is_422(client, kafka, sign) -> None:
    params = _params(sign.account)
    del params["RecordingSid"]
    body, headers = sign.twilio(RECORDING, params)
    response = client.post(RECORDING, content=body, headers=headers)
    assert response.status_code == 422
    assert "RecordingSid" in response.text
