import time

from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from switchboard.common.testing import twilio_signature
from switchboard.ingress.verify import (
    FormParams,
    hub_signature_ok,
    parse_elevenlabs_header,
    shared_secret_ok,
    timestamped_hmac_ok,
    twilio_signature_ok,
)

URL = "https://hooks.example.test/webhooks/twilio/voice/status?x=1"
PARAMS = {"CallSid": "CA1", "CallStatus": "ringing", "B": "2", "A": "1"}


def test_twilio_accepts_any_configured_token_so_secrets_rotate() -> None:
    params = FormParams.from_pairs(PARAMS.items())
    for token in ("old", "new"):
        sig = twilio_signature(URL, PARAMS, token)
        assert twilio_signature_ok(URL, params, sig.encode(), [SecretStr("old"), SecretStr("new")])


def test_twilio_rejects_wrong_token_missing_tampered_and_other_url() -> None:
    params = FormParams.from_pairs(PARAMS.items())
    sig = twilio_signature(URL, PARAMS, "secret").encode()
    tokens = [SecretStr("secret")]
    assert not twilio_signature_ok(URL, params, twilio_signature(URL, PARAMS, "x").encode(), tokens)
    assert not twilio_signature_ok(URL, params, None, tokens)
    assert not twilio_signature_ok(URL, params, b"", tokens)
    tampered = FormParams.from_pairs({**PARAMS, "CallStatus": "completed"}.items())
    assert not twilio_signature_ok(URL, tampered, sig, tokens)
    assert not twilio_signature_ok(URL.replace("x=1", "x=2"), params, sig, tokens)


def test_twilio_port_variants_like_the_sdk() -> None:
    with_port = "https://hooks.example.test:443/cb"
    sig = twilio_signature("https://hooks.example.test/cb", {"A": "1"}, "t").encode()
    assert twilio_signature_ok(with_port, FormParams(A=["1"]), sig, [SecretStr("t")])
    sig = twilio_signature(with_port, {"A": "1"}, "t").encode()
    assert twilio_signature_ok(
        "https://hooks.example.test/cb", FormParams(A=["1"]), sig, [SecretStr("t")]
    )


pairs = st.lists(st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=12)), max_size=8)
urls = st.sampled_from(
    [
        "https://a.test/cb",
        "https://a.test:443/cb?x=1&y=%2F",
        "http://127.0.0.1:8000/webhooks/twilio/voice/status",
        "http://a.test/",
    ]
)


@given(url=urls, form=pairs, token=st.text(min_size=1, max_size=20), forged=st.booleans())
def test_twilio_verdict_equals_the_sdk_request_validator(url, form, token, forged) -> None:
    params = FormParams.from_pairs(form)
    signature = RequestValidator(token).compute_signature(url, params)
    if forged:
        signature = signature[:-2] + ("AA" if not signature.endswith("AA") else "BB")
    expected = RequestValidator(token).validate(url, params, signature)
    assert twilio_signature_ok(url, params, signature.encode(), [SecretStr(token)]) == expected


def test_hub_signature() -> None:
    import hashlib
    import hmac

    body = b'{"object":"whatsapp_business_account"}'
    good = b"sha256=" + hmac.new(b"s", body, hashlib.sha256).hexdigest().encode()
    assert hub_signature_ok(body, good, [SecretStr("s")])
    assert hub_signature_ok(body, good.upper().replace(b"SHA256=", b"sha256="), [SecretStr("s")])
    assert not hub_signature_ok(body + b" ", good, [SecretStr("s")])
    assert not hub_signature_ok(body, good[7:], [SecretStr("s")])
    assert not hub_signature_ok(body, None, [SecretStr("s")])


def test_shared_secret_and_timestamped_hmac_window() -> None:
    assert shared_secret_ok(b"abc", [SecretStr("x"), SecretStr("abc")])
    assert not shared_secret_ok(b"", [SecretStr("")]) and not shared_secret_ok(None, [])
    import hashlib
    import hmac

    now = time.time()
    t = str(int(now)).encode()
    sig = hmac.new(b"k", t + b".body", hashlib.sha256).hexdigest().encode()
    window = {"now": now, "max_age_s": 60, "max_future_s": 10}
    assert timestamped_hmac_ok(b"body", t, sig, [SecretStr("k")], **window)
    assert not timestamped_hmac_ok(b"body2", t, sig, [SecretStr("k")], **window)
    assert not timestamped_hmac_ok(
        b"body", t, sig, [SecretStr("k")], now=now + 61, max_age_s=60, max_future_s=10
    )
    assert not timestamped_hmac_ok(
        b"body", t, sig, [SecretStr("k")], now=now - 11, max_age_s=60, max_future_s=10
    )
    assert not timestamped_hmac_ok(b"body", b"12a", sig, [SecretStr("k")], **window)
    assert parse_elevenlabs_header(b"t=1,v0=ab") == (b"1", b"ab")
    assert parse_elevenlabs_header(b"garbage") == (None, None)
    # bytes, not text: "²" passes str.isdigit() but not int(); 5,000 digits overflow int()
    for hostile in ("²".encode("latin-1"), "²".encode(), b"1" * 5000, t + b"\xb2"):
        assert not timestamped_hmac_ok(b"body", hostile, sig, [SecretStr("k")], **window)
    assert not timestamped_hmac_ok(b"body", t, "é".encode() * 32, [SecretStr("k")], **window)
    assert not hub_signature_ok(b"body", "sha256=é".encode(), [SecretStr("s")])
