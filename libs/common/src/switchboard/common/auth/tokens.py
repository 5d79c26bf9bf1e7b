"""The control plane's access tokens: EdDSA (Ed25519) JWTs, one audience each, signed by key id.

Asymmetric on purpose: the control plane alone holds private keys (sealed at rest); services
hold only public keys (from ``control.config`` or ``SWITCHBOARD_AUTH__PUBLIC_KEYS``), so a
compromised service cannot mint tokens. Keys rotate by id (the ``kid`` header): a new key
signs, the old one is still accepted until the last token it signed has expired.

Claims: ``iss`` (``switchboard-control``), ``aud`` (one :class:`Audience`), ``sub`` (the API
key id), ``tenant`` (absent for the operator), ``scope`` (space-separated), ``iat``, ``exp``,
``jti``. Only ``EdDSA`` is accepted (no ``none``, no HMAC: no algorithm confusion).
"""

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from switchboard.common.auth.principal import Principal
from switchboard.common.errors import PermanentError

ISSUER: Final = "switchboard-control"
TENANT_CLAIM: Final = "tenant"
SCOPE_CLAIM: Final = "scope"
ALGORITHM: Final = "EdDSA"
LEEWAY_S: Final = 30.0
"""Clock skew tolerated between the control plane and a service."""


def scopes_of(claim: object) -> frozenset[str]:
    """The ``scope`` claim (space-separated, as in RFC 8693) as a set."""
    if isinstance(claim, str):
        return frozenset(claim.split())
    return frozenset()


class TokenRejected(PermanentError):
    """A bearer token is not acceptable here (the reason says why; the API answers 401)."""


class TokenKeyError(ValueError):
    """A configured public or private key cannot be loaded."""


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_private_key(pem: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except ValueError as exc:
        raise TokenKeyError(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise TokenKeyError("signing keys must be Ed25519")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise TokenKeyError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise TokenKeyError("token keys must be Ed25519")
    return key


def mint_token(
    key: Ed25519PrivateKey,
    kid: str,
    *,
    audience: str,
    subject: str,
    tenant: str | None,
    scopes: Iterable[str],
    ttl: timedelta,
    issuer: str = ISSUER,
    now: datetime | None = None,
) -> str:
    """A signed access token (the control plane's ``POST /v1/tokens``; tests)."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
        SCOPE_CLAIM: " ".join(sorted(scopes)),
    }
    if tenant is not None:
        claims[TENANT_CLAIM] = tenant
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})


class PublicKeys(Protocol):
    """Where a verifier finds the public key of a key id (``None``: unknown or withdrawn)."""

    def public_key(self, kid: str) -> Ed25519PublicKey | None: ...


class StaticPublicKeys:
    """Public keys given by configuration: ``{kid: PEM}`` (``SWITCHBOARD_AUTH__PUBLIC_KEYS``)."""

    def __init__(self, pems: Mapping[str, str]) -> None:
        self._keys = {kid: load_public_key(pem) for kid, pem in pems.items()}

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._keys.get(kid)


class TokenVerifier:
    """Checks a control-plane token for one audience: signature by key id, issuer, audience,
    expiry; gives the :class:`Principal` (tenant, subject, scopes)."""

    def __init__(
        self,
        audience: str,
        keys: PublicKeys,
        *,
        issuer: str = ISSUER,
        leeway_s: float = LEEWAY_S,
    ) -> None:
        self.audience = audience
        self._keys = keys
        self._issuer = issuer
        self._leeway = leeway_s

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"malformed token: {exc}") from exc
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            raise TokenRejected("not a control-plane token (EdDSA with a key id)")
        key = self._keys.public_key(kid)
        if key is None:
            raise TokenRejected(f"unknown signing key {kid!r}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"token refused: {exc}") from exc
        tenant = claims.get(TENANT_CLAIM)
        return Principal(
            tenant=tenant if isinstance(tenant, str) and tenant else None,
            subject=str(claims["sub"]),
            scopes=scopes_of(claims.get(SCOPE_CLAIM)),
        )
