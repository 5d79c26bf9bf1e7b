"""Webhook signatures as each provider computes them (Twilio's lives in ``switchboard.common``)."""

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence

from switchboard.common.testing import twilio_signature as _twilio_signature


def twilio_signature(url: str, params: Mapping[str, str | Sequence[str]], token: str) -> str:
    """``X-Twilio-Signature``: HMAC-SHA1 of the URL + sorted params, base64."""
    return _twilio_signature(url, params, token)


def meta_signature(body: bytes, app_secret: str) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def elevenlabs_signature(body: bytes, secret: str, timestamp: int) -> str:
    """``ElevenLabs-Signature``: ``t=<unix>,v0=<hex HMAC-SHA256 of "{t}.{body}">``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v0={mac.hexdigest()}"


def vapi_headers(
    secret: str, body: bytes = b"", mode: str = "secret_header", timestamp: int | None = None
) -> dict[str, str]:
    """Vapi's server-message credential, as ``mode`` says: the legacy ``X-Vapi-Secret``
    header, ``Authorization: Bearer``, or HMAC-SHA256 hex of ``{x-timestamp}.{body}`` in
    ``x-signature`` (unix seconds)."""
    if mode == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if mode == "hmac":
        t = int(time.time()) if timestamp is None else timestamp
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256)
        return {"x-timestamp": str(t), "x-signature": mac.hexdigest()}
    return {"X-Vapi-Secret": secret}
