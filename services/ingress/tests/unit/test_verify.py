from pydantic import SecretStr

from switchboard.common.testing import twilio_signature
from switchboard.ingress.verify import FormParams, twilio_signature_ok

URL = "https://hooks.example.test/webhooks/twilio/voice/status?x=1"
PARAMS = {"CallSid": "CA1", "CallStatus": "ringing", "B": "2", "A": "1"}


def test_accepts_any_configured_token_so_secrets_rotate() -> None:
    params = FormParams.from_pairs(PARAMS.items())
    for token in ("old", "new"):
        sig = twilio_signature(URL, PARAMS, token)
        assert twilio_signature_ok(URL, params, sig, [SecretStr("old"), SecretStr("new")])


def test_rejects_wrong_token_missing_header_tampered_params_and_other_url() -> None:
    params = FormParams.from_pairs(PARAMS.items())
    sig = twilio_signature(URL, PARAMS, "secret")
    tokens = [SecretStr("secret")]
    assert not twilio_signature_ok(URL, params, twilio_signature(URL, PARAMS, "other"), tokens)
    assert not twilio_signature_ok(URL, params, None, tokens)
    assert not twilio_signature_ok(URL, params, "", tokens)
    tampered = FormParams.from_pairs({**PARAMS, "CallStatus": "completed"}.items())
    assert not twilio_signature_ok(URL, tampered, sig, tokens)
    assert not twilio_signature_ok(URL.replace("x=1", "x=2"), params, sig, tokens)


def test_repeated_params_are_signed_each() -> None:
    pairs = [("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "answered")]
    sig = twilio_signature(URL, {"StatusCallbackEvent": ["ringing", "answered"]}, "s")
    assert twilio_signature_ok(URL, FormParams.from_pairs(pairs), sig, [SecretStr("s")])
    one = FormParams.from_pairs(pairs[:1])
    assert not twilio_signature_ok(URL, one, sig, [SecretStr("s")])
