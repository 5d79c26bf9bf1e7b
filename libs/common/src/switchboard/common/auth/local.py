"""Bearer-JWT tenancy with one configured key (HS256 secret or RS256 public key): the token's
``tenant`` claim is the only tenant a request can see. Built on Litestar's ``JWTAuth`` (PyJWT
underneath). The control plane's per-service EdDSA tokens are checked by
:mod:`switchboard.common.auth.tokens` instead; services move there in phase 2 of issue 15.

    auth = tenant_jwt_auth(settings.auth, environment=settings.environment)
    Litestar(on_app_init=[auth.on_app_init], dependencies={"tenant": Provide(tenant_of)})
"""

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import jwt
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token
from pydantic import BaseModel, Field, SecretStr

from switchboard.common.auth.keys import check_symmetric_key
from switchboard.common.auth.principal import (
    OPEN_PATHS,
    AuthNotConfiguredError,
    Principal,
    open_path_patterns,
)

TENANT_CLAIM: Final = "tenant"
SCOPE_CLAIM: Final = "scope"
KEY_SETTING: Final = "SWITCHBOARD_AUTH__JWT_KEY"


class AuthSettings(BaseModel):
    """How API bearer tokens are checked."""

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_key: SecretStr = SecretStr("")
    """HS256: the shared secret (outside ``local``: at least 32 bytes, not an example key).
    RS256: the issuer's public key (PEM)."""
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    public_keys: dict[str, str] = Field(default_factory=dict)
    """The control plane's Ed25519 public keys (PEM) by key id, for services that do not take
    them from ``control.config`` (see ``switchboard.common.auth.tokens``)."""


def scopes_of(claim: object) -> frozenset[str]:
    """The ``scope`` claim (space-separated, as in RFC 8693) as a set."""
    if isinstance(claim, str):
        return frozenset(claim.split())
    return frozenset()


async def _principal(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    tenant = token.extras.get(TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant:
        return None  # → 401: a token without a tenant sees nothing
    return Principal(
        tenant=tenant, subject=token.sub, scopes=scopes_of(token.extras.get(SCOPE_CLAIM))
    )


def tenant_jwt_auth(
    settings: AuthSettings, *, environment: str, exclude: Sequence[str] = OPEN_PATHS
) -> JWTAuth[Principal, Token]:
    """Litestar JWT auth that requires a ``tenant`` claim; only the ``exclude`` paths (exact,
    see :func:`open_path_patterns`) stay open. Refuses a weak HS256 key outside ``local``."""
    key = settings.jwt_key.get_secret_value()
    if not key:
        raise AuthNotConfiguredError(f"set {KEY_SETTING} (secret or public key)")
    if settings.jwt_algorithm == "HS256":
        check_symmetric_key(key, setting=KEY_SETTING, environment=environment)
    return JWTAuth[Principal, Token](
        token_secret=key,
        retrieve_user_handler=_principal,
        algorithm=settings.jwt_algorithm,
        exclude=open_path_patterns(exclude),
        accepted_audiences=[settings.jwt_audience] if settings.jwt_audience else None,
        accepted_issuers=[settings.jwt_issuer] if settings.jwt_issuer else None,
        require_claims=[TENANT_CLAIM],
    )


def issue_token(
    signing_key: str,
    tenant: str,
    *,
    algorithm: str = "HS256",
    subject: str = "switchboard",
    ttl: timedelta = timedelta(hours=1),
    audience: str | None = None,
    issuer: str | None = None,
    scopes: Iterable[str] = (),
) -> str:
    """A bearer token for ``tenant`` (tests, local tools; production tokens come from the
    control plane)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + ttl, TENANT_CLAIM: tenant}
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    if scopes:
        claims[SCOPE_CLAIM] = " ".join(sorted(scopes))
    # The tenant is a top-level claim, as an identity provider would issue it.
    return jwt.encode(claims, signing_key, algorithm=algorithm)
