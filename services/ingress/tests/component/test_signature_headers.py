"""Signature headers are compared as bytes: whatever bytes a signature header carries (non-ASCII,
absurdly long timestamps), every scheme answers 403 and publishes nothing, never 5xx.

Requests are sent as raw ASGI messages so the header bytes reach the app exactly as a server
(uvicorn) would hand them over: the test client re-encodes header values as UTF-8."""

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from switchboard.ingress.app import create_app

Headers = list[tuple[bytes, bytes]]
Post = Callable[[str, bytes, Headers], int]
NOW = b"<now>"
"""Stands for the current unix time (a timestamp inside the window gets to the comparison)."""
VAPI_MODES = ("secret_header", "bearer", "hmac")


async def _asgi_post(app: Any, path: str, body: bytes, headers: Headers) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"hooks.example.test"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("hooks.example.test", 443),
        "state": {},
    }
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


@pytest.fixture
def posts(tmp_path: Path, kafka, settings_for, config_for) -> Iterator[dict[str, Post]]:
    """``posts[mode](path, body, headers)`` → status, over one app per Vapi auth mode
    (the other routes are the same in each)."""
    clients: dict[str, TestClient] = {}  # type: ignore[type-arg]
    for mode in VAPI_MODES:
        config = config_for()
        for account in config.items("account/vapi/").values():
            config.put(account.model_copy(update={"auth_mode": mode}))
        clients[mode] = TestClient(
            app=create_app(settings_for(tmp_path / mode), publisher=kafka, config=config)
        ).__enter__()

    def poster(client: TestClient) -> Post:  # type: ignore[type-arg]
        def post(path: str, body: bytes, headers: Headers) -> int:
            return int(client.blocking_portal.call(_asgi_post, client.app, path, body, headers))

        return post

    try:
        yield {mode: poster(c) for mode, c in clients.items()}
    finally:
        for c in clients.values():
            c.__exit__(None, None, None)


JSON_TYPE = (b"content-type", b"application/json")
VAPI_BODY = json.dumps(
    {"message": {"type": "status-update", "status": "ringing", "call": {"id": "c1"}}}
).encode()
EL_BODY = json.dumps({"type": "post_call_transcription", "data": {"conversation_id": "c"}}).encode()
WA_BODY = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()


def twilio_request(signer: Any) -> tuple[bytes, Headers]:
    body, headers = signer.twilio("/webhooks/twilio/voice/status", signer.call_status())
    return body, [(b"content-type", headers["content-type"].encode())]


# (Vapi mode of the app, route, body, header name, hostile values of that header)
NON_ASCII = ["é".encode(), "²".encode("latin-1"), b"\xff\xfe", "sha256=é".encode("latin-1")]
LONG_DIGITS = b"1" * 5000
CASES: list[tuple[str, str, str, bytes, list[bytes]]] = [
    (
        "secret_header",
        "twilio",
        "/webhooks/twilio/voice/status",
        b"x-twilio-signature",
        [*NON_ASCII, b"\x80" * 28],
    ),
    (
        "secret_header",
        "whatsapp",
        "/webhooks/whatsapp",
        b"x-hub-signature-256",
        [b"sha256=" + v for v in NON_ASCII] + [b"sha256=" + "é".encode() * 32],
    ),
    ("secret_header", "vapi", "/webhooks/vapi", b"x-vapi-secret", NON_ASCII),
    (
        "bearer",
        "vapi",
        "/webhooks/vapi",
        b"authorization",
        [b"Bearer " + v for v in NON_ASCII] + NON_ASCII,
    ),
    (
        "secret_header",
        "elevenlabs",
        "/webhooks/elevenlabs",
        b"elevenlabs-signature",
        [
            b"t=\xb2,v0=" + b"0" * 64,  # latin-1 superscript two: str.isdigit() says yes
            b"t=" + "²".encode() + b",v0=" + b"0" * 64,
            b"t=" + LONG_DIGITS + b",v0=" + b"0" * 64,
            b"t=<now>,v0=" + "é".encode() * 32,
            b"t=<now>,v0=\xe9",
            b"t=\xff,v0=\xff",
        ],
    ),
]


def now(value: bytes) -> bytes:
    return value.replace(NOW, str(int(time.time())).encode())


EL_INITIATION_BODY = json.dumps({"call_sid": "CA1", "agent_id": "agent_01"}).encode()
EL_TOOL_BODY = json.dumps({"conversation_id": "conv-1", "query": "x"}).encode()


def body_for(kind: str, signer: Any) -> tuple[bytes, Headers]:
    if kind == "twilio":
        return twilio_request(signer)
    body = {
        "whatsapp": WA_BODY,
        "vapi": VAPI_BODY,
        "elevenlabs": EL_BODY,
        "elevenlabs-initiation": EL_INITIATION_BODY,
        "elevenlabs-tool": EL_TOOL_BODY,
    }[kind]
    return body, [JSON_TYPE]


@pytest.mark.parametrize(("mode", "kind", "path", "name", "values"), CASES)
def test_non_ascii_or_absurd_signature_headers_get_403(
    posts, kafka, signer, mode, kind, path, name, values
) -> None:
    body, headers = body_for(kind, signer)
    for value in values:
        assert posts[mode](path, body, [*headers, (name, now(value))]) == 403, value[:40]
    assert kafka.published == []


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (b"\xb2", b"0" * 64),
        ("²".encode(), b"0" * 64),
        (LONG_DIGITS, b"0" * 64),
        (NOW, "é".encode() * 32),
        (NOW, b"\xe9" * 64),
        (b"-1", b"0" * 64),
        (b"", b""),
    ],
)
def test_vapi_hmac_with_hostile_timestamp_or_signature_is_403(
    posts, kafka, timestamp, signature
) -> None:
    headers = [JSON_TYPE, (b"x-timestamp", now(timestamp)), (b"x-signature", signature)]
    assert posts["hmac"]("/webhooks/vapi", VAPI_BODY, headers) == 403
    assert kafka.published == []


SCHEMES: list[tuple[str, str, str, list[bytes]]] = [
    ("secret_header", "twilio", "/webhooks/twilio/voice/status", [b"x-twilio-signature"]),
    ("secret_header", "whatsapp", "/webhooks/whatsapp", [b"x-hub-signature-256"]),
    ("secret_header", "vapi", "/webhooks/vapi", [b"x-vapi-secret"]),
    ("bearer", "vapi", "/webhooks/vapi", [b"authorization"]),
    ("hmac", "vapi", "/webhooks/vapi", [b"x-timestamp", b"x-signature"]),
    ("secret_header", "elevenlabs", "/webhooks/elevenlabs", [b"elevenlabs-signature"]),
    (
        "secret_header",
        "elevenlabs-initiation",
        "/webhooks/elevenlabs/initiation",
        [b"authorization"],
    ),
    ("secret_header", "elevenlabs-tool", "/webhooks/elevenlabs/tools/search", [b"authorization"]),
]
# Prefixes that get hostile bytes past each scheme's first checks.
PREFIXES = [b"", b"sha256=", b"Bearer ", b"t=", b"t=<now>,v0=", NOW, b"v0="]


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    scheme=st.sampled_from(SCHEMES),
    prefix=st.sampled_from(PREFIXES),
    values=st.lists(st.binary(max_size=80), min_size=2, max_size=2),
)
def test_arbitrary_signature_header_bytes_never_get_5xx(
    posts, kafka, signer, scheme, prefix, values
) -> None:
    mode, kind, path, names = scheme
    body, headers = body_for(kind, signer)
    signed = [(name, now(prefix) + value) for name, value in zip(names, values, strict=False)]
    assert posts[mode](path, body, [*headers, *signed]) == 403
    assert kafka.published == []


def test_whatsapp_verify_token_that_is_not_text_is_403(client) -> None:
    for token in ("%ED%A0%80", "%FF", "%C3%A9", "é" * 300):
        answer = client.get(
            f"/webhooks/whatsapp?hub.mode=subscribe&hub.challenge=1&hub.verify_token={token}"
        )
        assert answer.status_code == 403
