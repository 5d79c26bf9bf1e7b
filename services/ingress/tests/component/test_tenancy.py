"""The tenant of every event comes from the channel it arrived on, as the control plane binds
it; an event on a channel nobody owns goes to ``unowned.events`` with no tenant; changes to
accounts and channels are in force on the next request."""

import hashlib
import hmac
import json
import time

import pytest
from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    ElevenLabsAccount,
    TwilioAccount,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, UNOWNED_EVENTS
from switchboard.ingress.webhooks import whatsapp as whatsapp_routes

VOICE = "/webhooks/twilio/voice/status"
SMS = "/webhooks/twilio/messaging"
SMS_STATUS = "/webhooks/twilio/messaging/status"
SHARED = "AC" + "5" * 32
SHARED_TOKEN = "shared-account-token-01"
NUMBER_A, NUMBER_B = "+12125550001", "+12125550002"


@pytest.fixture
def shared(config):
    """A Twilio account tenants a and b share, each with its own number."""
    config.put(TwilioAccount(id=SHARED, tenants=("a", "b"), auth_tokens=(SecretStr(SHARED_TOKEN),)))
    config.put(Channel(kind="phone", id=NUMBER_A, tenant="a", account_id=SHARED))
    config.put(Channel(kind="phone", id=NUMBER_B, tenant="b", account_id=SHARED))
    return config


def post_twilio(client, sign, path, params, token=SHARED_TOKEN, query=""):
    body, headers = sign.twilio(path + query, params, token=token)
    return client.post(path + query, content=body, headers=headers)


def call(sid: str, from_: str, to: str = "+15551230000", **extra: str) -> dict[str, str]:
    return {
        "AccountSid": SHARED,
        "CallSid": sid,
        "CallStatus": "completed",
        "SequenceNumber": "4",
        "Direction": "outbound-api",
        "From": from_,
        "To": to,
        **extra,
    }


def sms(sid: str, to: str, from_: str = "+15551230000", body: str = "STOP") -> dict[str, str]:
    return {"AccountSid": SHARED, "MessageSid": sid, "To": to, "From": from_, "Body": body}


def test_on_a_shared_twilio_account_each_tenants_callbacks_and_stops_are_its_own(
    client, kafka, sign, shared
) -> None:
    assert post_twilio(client, sign, VOICE, call("CAa", NUMBER_A)).status_code == 204
    assert post_twilio(client, sign, VOICE, call("CAb", NUMBER_B)).status_code == 204
    inbound = call("CAin", "+15551230000", to=NUMBER_B, Direction="inbound")
    assert post_twilio(client, sign, VOICE, inbound).status_code == 204
    assert post_twilio(client, sign, SMS, sms("SMa", NUMBER_A)).status_code == 200
    assert post_twilio(client, sign, SMS, sms("SMb", NUMBER_B)).status_code == 200
    status = {
        "AccountSid": SHARED,
        "MessageSid": "SMout",
        "MessageStatus": "delivered",
        "From": NUMBER_B,
        "To": "+15551230000",
    }
    assert post_twilio(client, sign, SMS_STATUS, status).status_code == 204
    tenants = {e.subject: (t, e.tenant) for t, _, e in kafka.events()}
    assert tenants == {
        "CAa": (CALL_EVENTS, "a"),
        "CAb": (CALL_EVENTS, "b"),
        "CAin": (CALL_EVENTS, "b"),
        "SMa": (MESSAGE_INBOUND, "a"),
        "SMb": (MESSAGE_INBOUND, "b"),
        "SMout": ("message.status", "b"),
    }


def test_an_unbound_number_is_kept_unowned_never_guessed(client, kafka, sign, shared) -> None:
    assert post_twilio(client, sign, VOICE, call("CAx", "+12125550999")).status_code == 204
    assert post_twilio(client, sign, SMS, sms("SMx", "+12125550999")).status_code == 200
    published = kafka.published
    assert [t for t, _ in published] == [UNOWNED_EVENTS, UNOWNED_EVENTS]
    headers = published[0][1].headers
    assert "ce_tenant" not in headers
    assert headers["x-switchboard-topic"] == CALL_EVENTS.encode()
    assert headers["x-switchboard-unowned"] == b"unbound: phone/+12125550999"
    assert published[1][1].headers["x-switchboard-topic"] == MESSAGE_INBOUND.encode()
    assert all(e.tenant is None for _, _, e in kafka.events())
    metrics = client.get("/metrics").text
    assert (
        'switchboard_ingress_unowned_events_total{reason="unbound",route="twilio.voice.status"} 1.0'
        in metrics
    )


def test_a_number_of_another_account_does_not_lend_its_tenant(client, kafka, sign, config):
    """Tenant x holds its own account and signs a callback naming tenant b's number: the event
    is not b's (x cannot write into b's history or opt-outs)."""
    own = "AC" + "7" * 32
    config.put(TwilioAccount(id=own, tenants=("x",), auth_tokens=(SecretStr("x-account-token-1"),)))
    config.put(TwilioAccount(id=SHARED, tenants=("b",), auth_tokens=(SecretStr(SHARED_TOKEN),)))
    config.put(Channel(kind="phone", id=NUMBER_B, tenant="b", account_id=SHARED))
    params = {**call("CAforged", NUMBER_B), "AccountSid": own}
    assert post_twilio(client, sign, VOICE, params, token="x-account-token-1").status_code == 204
    [(topic, record)] = kafka.published
    assert topic == UNOWNED_EVENTS
    assert record.headers["x-switchboard-unowned"] == b"other_account: phone/" + NUMBER_B.encode()


def test_an_amd_callback_names_its_number_in_the_signed_url(client, kafka, sign, shared) -> None:
    amd = {"AccountSid": SHARED, "CallSid": "CAamd", "AnsweredBy": "machine_start"}
    query = "?channel=%2B12125550002"
    assert post_twilio(client, sign, VOICE, amd, query=query).status_code == 204
    assert post_twilio(client, sign, VOICE, {**amd, "CallSid": "CAnone"}).status_code == 204
    owners = {e.subject: (t, e.tenant) for t, _, e in kafka.events()}
    assert owners == {"CAamd": (CALL_EVENTS, "b"), "CAnone": (UNOWNED_EVENTS, None)}


def test_changes_are_in_force_on_the_next_request(client, kafka, sign, shared) -> None:
    new_number = "+12125550003"
    assert post_twilio(client, sign, VOICE, call("CA1", new_number)).status_code == 204
    shared.put(Channel(kind="phone", id=new_number, tenant="a", account_id=SHARED))
    assert post_twilio(client, sign, VOICE, call("CA2", new_number)).status_code == 204
    shared.put(Channel(kind="phone", id=new_number, tenant="b", account_id=SHARED))  # moved
    assert post_twilio(client, sign, VOICE, call("CA3", new_number)).status_code == 204
    shared.delete(f"channel/phone/{new_number}")
    assert post_twilio(client, sign, VOICE, call("CA4", new_number)).status_code == 204
    owners = [(e.subject, e.tenant) for _, _, e in kafka.events()]
    assert owners == [("CA1", None), ("CA2", "a"), ("CA3", "b"), ("CA4", None)]


def test_a_rotated_auth_token_overlaps_then_the_old_one_is_refused(
    client, kafka, sign, shared
) -> None:
    new = "shared-account-token-02"

    def tokens(*values: str) -> None:
        shared.put(
            TwilioAccount(
                id=SHARED, tenants=("a", "b"), auth_tokens=tuple(SecretStr(v) for v in values)
            )
        )

    assert post_twilio(client, sign, VOICE, call("CAr1", NUMBER_A), token=new).status_code == 403
    tokens(new, SHARED_TOKEN)
    assert post_twilio(client, sign, VOICE, call("CAr2", NUMBER_A), token=new).status_code == 204
    assert post_twilio(client, sign, VOICE, call("CAr3", NUMBER_A)).status_code == 204
    tokens(new)
    assert post_twilio(client, sign, VOICE, call("CAr4", NUMBER_A)).status_code == 403
    assert post_twilio(client, sign, VOICE, call("CAr5", NUMBER_A), token=new).status_code == 204
    shared.delete(f"account/twilio/{SHARED}")
    assert post_twilio(client, sign, VOICE, call("CAr6", NUMBER_A), token=new).status_code == 403


def test_until_the_configuration_is_loaded_webhooks_get_503_not_403(
    client, kafka, sign, config
) -> None:
    config.ready = False
    body, headers = sign.twilio(VOICE, sign.call_status())
    response = client.post(VOICE, content=body, headers=headers)
    assert response.status_code == 503
    assert response.json()["reason"] == "config"
    assert response.headers["retry-after"] == "5"
    ready = client.get("/ready")
    assert ready.status_code == 503 and ready.json()["checks"]["config"] is False
    config.ready = True
    assert client.post(VOICE, content=body, headers=headers).status_code == 204
    assert client.get("/ready").status_code == 200


# --- WhatsApp ------------------------------------------------------------------------------


def signed(payload: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}


def wa_message(waba: str, phone_number_id: str, message_id: str) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": phone_number_id},
        "messages": [{"from": "16505550000", "id": message_id, "type": "text", "text": {}}],
    }
    return {"id": waba, "changes": [{"field": "messages", "value": value}]}


@pytest.fixture
def many_apps(config):
    """100 WhatsApp apps, one WABA and number each, tenant t<n>."""
    for n in range(100):
        config.put(
            WhatsAppAccount(
                id=f"app-{n}",
                tenants=(f"t{n}",),
                app_secrets=(SecretStr(f"app-secret-number-{n:04d}"),),
                waba_ids=(f"9{n:05d}",),
            )
        )
        config.put(
            Channel(
                kind="whatsapp",
                id=f"5{n:05d}",
                tenant=f"t{n}",
                account_id=f"app-{n}",
                waba_id=f"9{n:05d}",
            )
        )
    return config


def test_the_batchs_waba_picks_the_app_before_any_hmac(
    client, kafka, many_apps, monkeypatch
) -> None:
    checked: list[object] = []
    real = whatsapp_routes.hub_signature_ok

    def counting(body, header, secrets):
        checked.append(secrets)
        return real(body, header, secrets)

    monkeypatch.setattr(whatsapp_routes, "hub_signature_ok", counting)
    payload = {
        "object": "whatsapp_business_account",
        "entry": [wa_message("900007", "500007", "m1")],
    }
    body, headers = signed(payload, "forged-secret-0000000")
    assert client.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 403
    assert len(checked) == 1  # one app's secrets, not a hundred
    body, headers = signed({**payload, "entry": [{"id": "123", "changes": []}]}, "x" * 20)
    assert client.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 403
    assert len(checked) == 1  # an unknown WABA costs no HMAC
    body, headers = signed(payload, "app-secret-number-0007")
    assert client.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    [(_, _, event)] = kafka.events()
    assert event.tenant == "t7"


def test_a_phone_number_id_outside_its_waba_or_unbound_is_unowned(client, kafka, many_apps) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            wa_message("900007", "500007", "own"),
            wa_message("900007", "500008", "t8s-number-in-t7s-waba"),
            wa_message("900007", "599999", "unbound"),
        ],
    }
    body, headers = signed(payload, "app-secret-number-0007")
    assert client.post("/webhooks/whatsapp", content=body, headers=headers).status_code == 200
    owners = {e.subject: (t, e.tenant) for t, _, e in kafka.events()}
    assert owners == {
        "own": (MESSAGE_INBOUND, "t7"),
        "t8s-number-in-t7s-waba": (UNOWNED_EVENTS, None),
        "unbound": (UNOWNED_EVENTS, None),
    }


def test_the_subscription_check_accepts_any_apps_verify_token(client, config, sign) -> None:
    config.put(
        WhatsAppAccount(
            id="second-app",
            tenants=("t2",),
            app_secrets=(SecretStr("second-app-secret-01"),),
            verify_tokens=(SecretStr("second-verify-token-1"),),
            waba_ids=("77",),
        )
    )
    for token, status in ((sign.wa_verify, 200), ("second-verify-token-1", 200), ("nope", 403)):
        params = {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"}
        assert client.get("/webhooks/whatsapp", params=params).status_code == status
    config.delete("account/whatsapp/second-app")
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": "second-verify-token-1",
        "hub.challenge": "1",
    }
    assert client.get("/webhooks/whatsapp", params=params).status_code == 403


# --- Vapi and ElevenLabs -------------------------------------------------------------------


def vapi_report(call_id: str, assistant: str | None = None, phone: str | None = None) -> dict:
    call: dict[str, str] = {"id": call_id}
    if assistant:
        call["assistantId"] = assistant
    if phone:
        call["phoneNumberId"] = phone
    return {"message": {"type": "status-update", "status": "ringing", "call": call}}


def vapi_hmac(payload: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    t = str(int(time.time()))
    mac = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-timestamp": t, "x-signature": mac}


def test_vapi_tenant_comes_from_the_phone_number_or_the_assistant(client, kafka, sign, config):
    config.put(Channel(kind="vapi-phone", id="pn-1", tenant="acme-vapi", account_id="vapi-org-1"))
    for call_id, assistant, phone in (
        ("by-assistant", "asst-42", None),
        ("by-phone", None, "pn-1"),
        ("unbound", "asst-unknown", None),
        ("nothing", None, None),
    ):
        body, headers = sign.vapi(vapi_report(call_id, assistant, phone))
        assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 200
    owners = {e.subject: (t, e.tenant) for t, _, e in kafka.events()}
    assert owners == {
        "by-assistant": (CALL_EVENTS, "acme-vapi"),
        "by-phone": (CALL_EVENTS, "acme-vapi"),
        "unbound": (UNOWNED_EVENTS, None),
        "nothing": (UNOWNED_EVENTS, None),
    }


def test_vapi_hmac_accounts_verify_by_channel_or_the_named_account(client, kafka, config):
    for n in range(3):
        config.put(
            VapiAccount(
                id=f"org-{n}",
                tenants=(f"v{n}",),
                auth_mode="hmac",
                webhook_secrets=(SecretStr(f"vapi-hmac-key-000{n}"),),
            )
        )
        config.put(
            Channel(kind="vapi-assistant", id=f"asst-{n}", tenant=f"v{n}", account_id=f"org-{n}")
        )
    body, headers = vapi_hmac(vapi_report("c1", "asst-2"), "vapi-hmac-key-0002")
    assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 200
    body, headers = vapi_hmac(vapi_report("c2", "asst-2"), "vapi-hmac-key-0001")
    assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 403
    # An unbound assistant: which account signed it is not known...
    body, headers = vapi_hmac(vapi_report("c3", "asst-new"), "vapi-hmac-key-0001")
    assert client.post("/webhooks/vapi", content=body, headers=headers).status_code == 403
    # ... unless the webhook URL names it: then the event is kept, unowned.
    response = client.post("/webhooks/vapi?account=org-1", content=body, headers=headers)
    assert response.status_code == 200
    owners = {e.subject: (t, e.tenant) for t, _, e in kafka.events()}
    assert owners == {"c1": (CALL_EVENTS, "v2"), "c3": (UNOWNED_EVENTS, None)}


def test_a_rotated_vapi_secret_overlaps_then_the_old_one_is_refused(client, kafka, sign, config):
    def secrets(*values: str) -> None:
        config.put(
            VapiAccount(
                id="vapi-org-1",
                tenants=("acme-vapi",),
                webhook_secrets=tuple(SecretStr(v) for v in values),
            )
        )

    new = "vapi-secret-0002-y"

    def status(secret: str) -> int:
        body, headers = sign.vapi(vapi_report("r", "asst-42"), secret=secret)
        return client.post("/webhooks/vapi", content=body, headers=headers).status_code

    assert status(new) == 403
    secrets(new, sign.vapi_secret)
    assert (status(new), status(sign.vapi_secret)) == (200, 200)
    secrets(new)
    assert (status(new), status(sign.vapi_secret)) == (200, 403)


def test_elevenlabs_agent_names_account_and_tenant(client, kafka, sign, config) -> None:
    config.put(
        ElevenLabsAccount(
            id="other-ws", tenants=("other",), webhook_secrets=(SecretStr("wsec_other_ws_0001"),)
        )
    )
    transcription = sign.sample("elevenlabs_post_call_transcription.json")
    body, headers = sign.elevenlabs(transcription)
    assert client.post("/webhooks/elevenlabs", content=body, headers=headers).status_code == 200
    # The agent's account did not sign it: refused, even though another account's secret fits.
    body, headers = sign.elevenlabs(transcription, secret="wsec_other_ws_0001")
    assert client.post("/webhooks/elevenlabs", content=body, headers=headers).status_code == 403
    unknown = {**transcription, "data": {**transcription["data"], "agent_id": "agent-new"}}
    body, headers = sign.elevenlabs(unknown, secret="wsec_other_ws_0001")
    assert client.post("/webhooks/elevenlabs", content=body, headers=headers).status_code == 403
    response = client.post("/webhooks/elevenlabs?account=other-ws", content=body, headers=headers)
    assert response.status_code == 200
    owners = [(t, e.tenant) for t, _, e in kafka.events()]
    assert owners == [(CALL_EVENTS, "acme-el"), (UNOWNED_EVENTS, None)]
