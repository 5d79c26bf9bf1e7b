"""Signature checks, one function per provider scheme. Each works on the raw bytes of the body
*and* of the signature headers (a header may carry any byte: compared as text, a non-ASCII one
made ``hmac.compare_digest`` raise, and ``int()`` of a superscript digit or of 5,000 digits
too), compares in constant time, accepts any of several secrets, and fails closed."""

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Final
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

MAX_TIMESTAMP_DIGITS: Final = 12
"""Unix seconds have 10 digits until the year 2286; longer ones are refused before ``int()``."""


class FormParams(dict[str, list[str]]):
    """Form fields with repeated names kept (``getall`` is what the twilio SDK looks for)."""

    def getall(self, name: str) -> list[str]:
        return self[name]

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> "FormParams":
        params = cls()
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        return params


def _twilio_payload(url: str, params: Mapping[str, Sequence[str]]) -> bytes:
    # Twilio's scheme (as the SDK computes it): URL, then name+value for each sorted name and
    # each of its sorted distinct values.
    parts = [url]
    for name in sorted(params):
        values = params[name]
        for value in values if len(values) == 1 else sorted(set(values)):
            parts.append(name)
            parts.append(value)
    return "".join(parts).encode()


def _port_variants(url: str) -> tuple[str, str]:
    """The URL as given, then with its port removed or the default one added: Twilio is
    inconsistent about ports, and the SDK accepts either form the same way."""
    split = urlsplit(url)
    if split.port is None:
        default = 443 if split.scheme == "https" else 80
        other = split._replace(netloc=f"{split.netloc}:{default}")
    else:
        other = split._replace(netloc=split.netloc.rsplit(":", 1)[0])
    return url, urlunsplit(other)


def twilio_signature_ok(
    url: str,
    params: Mapping[str, Sequence[str]],
    signature: bytes | None,
    tokens: Sequence[SecretStr],
) -> bool:
    """True when X-Twilio-Signature (its raw bytes) matches ``url`` + params under any token.

    Same result as ``twilio.request_validator.RequestValidator.validate`` (a test checks it)
    at a fraction of its cost: one HMAC per token for the URL as configured; the port
    variant is tried only when that fails.
    """
    if not signature:
        return False
    if _matches(url, params, signature, tokens):
        return True
    return _matches(_port_variants(url)[1], params, signature, tokens)


def _matches(
    url: str, params: Mapping[str, Sequence[str]], expected: bytes, tokens: Sequence[SecretStr]
) -> bool:
    payload = _twilio_payload(url, params)
    for token in tokens:
        mac = hmac.new(token.get_secret_value().encode(), payload, hashlib.sha1).digest()
        if hmac.compare_digest(base64.b64encode(mac), expected):
            return True
    return False


def _hmac_sha256_hex(secret: SecretStr, message: bytes) -> bytes:
    hex_digest = hmac.new(secret.get_secret_value().encode(), message, hashlib.sha256).hexdigest()
    return hex_digest.encode()


def hub_signature_ok(body: bytes, header: bytes | None, secrets: Sequence[SecretStr]) -> bool:
    """Meta's ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>``."""
    if not header or not header.startswith(b"sha256="):
        return False
    given = header.removeprefix(b"sha256=").strip().lower()  # bytes.lower(): ASCII letters only
    return any(hmac.compare_digest(_hmac_sha256_hex(s, body), given) for s in secrets)


def shared_secret_ok(given: bytes | None, secrets: Sequence[SecretStr]) -> bool:
    """A secret sent as is (``X-Vapi-Secret``, a bearer token, Meta's verify token), compared
    as bytes in constant time with each secret's UTF-8."""
    if not given:
        return False
    return any(hmac.compare_digest(s.get_secret_value().encode(), given) for s in secrets)


def timestamped_hmac_ok(
    body: bytes,
    timestamp: bytes | None,
    signature: bytes | None,
    secrets: Sequence[SecretStr],
    *,
    now: float,
    max_age_s: float,
    max_future_s: float,
) -> bool:
    """HMAC-SHA256 hex of ``"{timestamp}.{body}"`` with the timestamp inside the window
    (ElevenLabs ``v0``, Vapi ``x-signature``). Timestamps are unix seconds."""
    # bytes.isdigit() is ASCII 0-9 only (str.isdigit() also takes "²", which int() refuses).
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if len(timestamp) > MAX_TIMESTAMP_DIGITS:
        return False
    age = now - int(timestamp)
    if age > max_age_s or -age > max_future_s:
        return False
    message = timestamp + b"." + body
    given = signature.strip().lower()
    return any(hmac.compare_digest(_hmac_sha256_hex(s, message), given) for s in secrets)


def parse_elevenlabs_header(header: bytes | None) -> tuple[bytes | None, bytes | None]:
    """``t=<unix>,v0=<hex>`` → (t, v0) as bytes; missing parts are None."""
    if not header:
        return None, None
    fields: dict[bytes, bytes] = {}
    for part in header.split(b","):
        name, eq, value = part.strip().partition(b"=")
        if eq:
            fields[name] = value
    return fields.get(b"t"), fields.get(b"v0")
