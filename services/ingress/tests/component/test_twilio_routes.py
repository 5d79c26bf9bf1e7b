"""Twilio routes over HTTP with the real app factory and a fake Kafka side."""

from switchboard.common.events import (
    CallMachineDetected,
    CallStatusChanged,
    MessageReceived,
    MessageStatusChanged,
)

VOICE = "/webhooks/twilio/voice/status"
SMS = "/webhooks/twilio/messaging"
SMS_STATUS = "/webhooks/twilio/messaging/status"


def test_signed_status_callback_is_published_then_answered_204(client, kafka, sign) -> None:
    body, headers = sign.twilio(VOICE, sign.call_status())
    response = client.post(VOICE, content=body, headers=headers)
    assert response.status_code == 204, response.text
    [(topic, key, event)] = kafka.events()
    assert (topic, key) == ("call.events", b"CA0123456789abcdef0123456789abcdef")
    assert isinstance(event.data, CallStatusChanged)
    assert event.data.duration_s == 42
    assert event.tenant == "acme"
    assert event.data.raw["CallbackSource"] == "call-progress-events"


def test_rotated_token_still_accepted(client, kafka, sign) -> None:
    body, headers = sign.twilio(VOICE, sign.call_status(), token=sign.old_token)
    assert client.post(VOICE, content=body, headers=headers).status_code == 204
    assert len(kafka.published) == 1


def test_query_string_is_signed_exactly_as_sent(client, kafka, sign) -> None:
    body, headers = sign.twilio(VOICE + "?campaign=7&x=%2F", sign.call_status())
    assert (
        client.post(VOICE + "?campaign=7&x=%2F", content=body, headers=headers).status_code == 204
    )
    assert (
        client.post(VOICE + "?campaign=8&x=%2F", content=body, headers=headers).status_code == 403
    )
    assert client.post(VOICE + "?campaign=7&x=/", content=body, headers=headers).status_code == 403


def test_async_amd_callback_is_a_machine_detection_event(client, kafka, sign) -> None:
    params = {
        "AccountSid": sign.account,
        "CallSid": "CA1",
        "AnsweredBy": "machine_end_beep",
        "MachineDetectionDuration": "2300",
    }
    body, headers = sign.twilio(VOICE, params)
    assert client.post(VOICE, content=body, headers=headers).status_code == 204
    [(_, key, event)] = kafka.events()
    assert key == b"CA1"
    assert isinstance(event.data, CallMachineDetected)
    assert event.data.is_machine and event.data.detection_ms == 2300


def test_inbound_sms_answers_empty_twiml_and_publishes(client, kafka, sign) -> None:
    params = {
        "AccountSid": sign.account,
        "MessageSid": "SM1",
        "From": "+14155550100",
        "To": "+15005550006",
        "Body": "STOP",
        "NumMedia": "1",
        "MediaUrl0": "https://api.twilio.com/m/1",
        "MediaContentType0": "image/png",
    }
    body, headers = sign.twilio(SMS, params)
    response = client.post(SMS, content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response/>")
    [(topic, key, event)] = kafka.events()
    assert (topic, key) == ("message.inbound", b"+15005550006:+14155550100")
    assert isinstance(event.data, MessageReceived)
    assert (event.data.channel, event.data.text) == ("sms", "STOP")
    assert event.data.media[0].content_type == "image/png"


def test_sms_status_is_published_with_conversation_key(client, kafka, sign) -> None:
    params = {
        "AccountSid": sign.account,
        "MessageSid": "SM2",
        "MessageStatus": "undelivered",
        "From": "+15005550006",
        "To": "+14155550100",
        "ErrorCode": "30003",
    }
    body, headers = sign.twilio(SMS_STATUS, params)
    assert client.post(SMS_STATUS, content=body, headers=headers).status_code == 204
    [(topic, key, event)] = kafka.events()
    assert (topic, key) == ("message.status", b"+15005550006:+14155550100")
    assert isinstance(event.data, MessageStatusChanged)
    assert (event.data.status.value, event.data.error_code) == ("undelivered", "30003")


def test_forged_missing_unknown_account_and_wrong_host_are_403(client, kafka, sign) -> None:
    for path in (VOICE, SMS, SMS_STATUS):
        body, headers = sign.twilio(path, sign.call_status(), token="not-the-token")
        response = client.post(path, content=body, headers=headers)
        assert response.status_code == 403
        assert response.json()["reason"] == "signature"
    body, headers = sign.twilio(VOICE, sign.call_status())
    del headers["x-twilio-signature"]
    assert client.post(VOICE, content=body, headers=headers).status_code == 403
    body, headers = sign.twilio(VOICE, sign.call_status(AccountSid="AC999"))
    assert client.post(VOICE, content=body, headers=headers).status_code == 403
    body, headers = sign.twilio(VOICE, sign.call_status(), base="https://evil.test")
    assert client.post(VOICE, content=body, headers=headers).status_code == 403
    assert kafka.published == []


def test_verified_but_invalid_payloads_are_422_with_reason(client, kafka, sign) -> None:
    cases = {
        "status": sign.call_status(CallStatus="exploded"),
        "CallSid": {k: v for k, v in sign.call_status().items() if k != "CallSid"},
        "duration_s": sign.call_status(CallDuration="abc"),
    }
    for reason, params in cases.items():
        body, headers = sign.twilio(VOICE, params)
        response = client.post(VOICE, content=body, headers=headers)
        assert response.status_code == 422, reason
        assert reason in response.json()["detail"]
    assert kafka.published == []


def test_kafka_down_spools_and_still_answers_204(client, kafka, sign) -> None:
    kafka.down = True
    body, headers = sign.twilio(VOICE, sign.call_status())
    assert client.post(VOICE, content=body, headers=headers).status_code == 204
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert "switchboard_ingress_spool_depth 1.0" in client.get("/metrics").text


def test_forwarded_host_is_believed_only_from_trusted_proxies(make_client, kafka, sign) -> None:
    proxied = "https://public.example.org"
    body, headers = sign.twilio(VOICE, sign.call_status(), base=proxied)
    headers.update({"x-forwarded-proto": "https", "x-forwarded-host": "public.example.org"})
    # The test client's peer is "testclient": not an address, so never trusted...
    with make_client(trusted_proxies=["0.0.0.0/0"]) as client:
        assert client.post(VOICE, content=body, headers=headers).status_code == 403
    assert kafka.published == []


def test_forwarded_headers_from_a_trusted_proxy_rebuild_the_signed_url(settings) -> None:
    from litestar import Request

    from switchboard.ingress.webhooks.common import signed_url

    def request(peer: str) -> Request:  # type: ignore[type-arg]
        return Request(
            {
                "type": "http",
                "method": "POST",
                "path": VOICE,
                "query_string": b"a=1",
                "client": (peer, 1234),
                "app": None,
                "headers": [
                    (b"x-forwarded-proto", b"https"),
                    (b"x-forwarded-host", b"public.example.org"),
                ],
            }
        )

    from ipaddress import ip_network

    edge = settings.edge.model_copy(update={"trusted_proxies": [ip_network("10.0.0.0/8")]})
    trusting = settings.model_copy(update={"edge": edge})
    assert signed_url(trusting, request("10.1.2.3")) == (
        "https://public.example.org" + VOICE + "?a=1"
    )
    assert signed_url(trusting, request("192.0.2.9")).startswith(
        "https://hooks.example.test" + VOICE
    )
    assert signed_url(settings, request("10.1.2.3")).startswith("https://hooks.example.test")
