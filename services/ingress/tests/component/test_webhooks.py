"""The real app factory over HTTP with an in-memory publisher."""

from litestar.testing import TestClient

from switchboard.common.events import CallStatusChanged

PATH = "/webhooks/twilio/voice/status"


def test_signed_status_callback_is_published_then_answered_204(client, publisher, twilio) -> None:
    body, headers = twilio.signed_form(PATH, twilio.status_params())
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 204, response.text
    [out] = publisher.published
    assert out.key == "CA0123456789abcdef0123456789abcdef"
    assert isinstance(out.event.data, CallStatusChanged)
    assert out.event.data.duration_s == 42
    assert out.event.tenant == "acme"


def test_rotated_token_still_accepted(client, publisher, twilio) -> None:
    body, headers = twilio.signed_form(PATH, twilio.status_params(), token=twilio.old_token)
    assert client.post(PATH, content=body, headers=headers).status_code == 204
    assert len(publisher.published) == 1


def test_query_string_is_part_of_the_signed_url(client, publisher, twilio) -> None:
    params = twilio.status_params()
    body, headers = twilio.signed_form(PATH + "?campaign=7&x=%2F", params)
    assert client.post(PATH + "?campaign=7&x=%2F", content=body, headers=headers).status_code == 204
    assert client.post(PATH + "?campaign=8&x=%2F", content=body, headers=headers).status_code == 403


def test_forged_signature_is_403_and_nothing_published(client, publisher, twilio) -> None:
    body, headers = twilio.signed_form(PATH, twilio.status_params(), token="not-the-token")
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 403
    assert "X-Twilio-Signature" in response.json()["detail"]
    assert publisher.published == []


def test_missing_signature_unknown_account_and_signed_for_other_host_are_403(
    client, publisher, twilio
) -> None:
    body, headers = twilio.signed_form(PATH, twilio.status_params())
    del headers["x-twilio-signature"]
    assert client.post(PATH, content=body, headers=headers).status_code == 403
    stranger = twilio.status_params(AccountSid="AC999")
    body, headers = twilio.signed_form(PATH, stranger)
    assert client.post(PATH, content=body, headers=headers).status_code == 403
    body, headers = twilio.signed_form(PATH, twilio.status_params(), base="https://evil.test")
    assert client.post(PATH, content=body, headers=headers).status_code == 403
    assert publisher.published == []


def test_wrong_content_type_is_415(client, publisher, twilio) -> None:
    body, headers = twilio.signed_form(PATH, twilio.status_params())
    headers["content-type"] = "application/json"
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 415
    assert publisher.published == []


def test_verified_but_invalid_payload_is_422_with_reason(client, publisher, twilio) -> None:
    body, headers = twilio.signed_form(PATH, twilio.status_params(CallStatus="exploded"))
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 422
    assert "status" in response.json()["detail"]
    assert publisher.published == []


def test_broker_down_is_503_with_retry_after(client, publisher, twilio) -> None:
    publisher.fail = True
    body, headers = twilio.signed_form(PATH, twilio.status_params())
    response = client.post(PATH, content=body, headers=headers)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


def test_health_ready_and_metrics(client: TestClient, publisher, twilio) -> None:  # type: ignore[type-arg]
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    publisher.fail = True
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"kafka": False}
    body, headers = twilio.signed_form(PATH, twilio.status_params(), token="bad")
    client.post(PATH, content=body, headers=headers)
    metrics = client.get("/metrics").text
    assert 'switchboard_ingress_webhooks_total{outcome="rejected_signature"' in metrics
