"""Signatures checked against independent implementations; Twilio URL fragments parsed."""

import base64
import hashlib
import hmac

from twilio.request_validator import RequestValidator

from switchboard.providersim.signing import elevenlabs_signature, meta_signature, twilio_signature
from switchboard.providersim.webhooks import ConnectionOverrides, split_fragment, twilio_form


def test_meta_signature_is_hex_hmac_sha256_of_the_raw_body():
    body = b'{"object":"whatsapp_business_account"}'
    expected = hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert meta_signature(body, "secret") == f"sha256={expected}"


def test_elevenlabs_signature_signs_timestamp_dot_body():
    body = b'{"type":"post_call_transcription"}'
    mac = hmac.new(b"s", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert elevenlabs_signature(body, "s", 1700000000) == f"t=1700000000,v0={mac}"


def test_twilio_signature_verifies_with_the_sdk_including_repeated_params():
    url = "https://hooks.example.test/cb?x=1"
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    assert RequestValidator("tok").validate(url, params, twilio_signature(url, params, "tok"))
    # Independent: URL + sorted name+value pairs, HMAC-SHA1, base64.
    data = url + "CallSidCA1CallStatusringing"
    expected = base64.b64encode(hmac.new(b"tok", data.encode(), hashlib.sha1).digest()).decode()
    assert twilio_signature(url, params, "tok") == expected


def test_fragment_overrides_are_parsed_and_stripped():
    bare, overrides = split_fragment("https://h.test/cb?a=1#rc=3&rp=4xx,5xx&ct=500&rt=2000&tt=9000")
    assert bare == "https://h.test/cb?a=1"
    assert overrides == ConnectionOverrides(3, frozenset({"4xx", "5xx"}), 0.5, 2.0, 9.0)
    assert split_fragment("https://h.test/cb") == ("https://h.test/cb", ConnectionOverrides())
    assert split_fragment("https://h.test/cb#rc=9")[1].retry_count == 5  # Twilio caps at 5


def test_twilio_form_signs_the_url_without_its_fragment():
    delivery = twilio_form("k", "https://h.test/cb#rc=2&rp=all", {"A": "1"}, "tok")
    assert delivery.url == "https://h.test/cb"
    assert RequestValidator("tok").validate(
        "https://h.test/cb", {"A": "1"}, delivery.headers["X-Twilio-Signature"]
    )
    assert delivery.overrides.retry_count == 2 and delivery.body == b"A=1"
