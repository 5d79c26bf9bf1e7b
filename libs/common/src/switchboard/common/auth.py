"""Bearer-JWT tenancy for every API: the token's ``tenant`` claim is the only tenant a request
can see. Built on Litestar's ``JWTAuth`` (PyJWT underneath).

    auth = tenant_jwt_auth(settings.auth)        # Litestar(on_app_init=[auth.on_app_init])
    async def handler(tenant: str) -> ...         # dependencies={"tenant": Provide(tenant_of)}
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import jwt
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.security.jwt import JWTAuth, Token
from pydantic import BaseModel, SecretStr

TENANT_CLAIM: Final = "tenant"
OPEN_PATHS: Final = ("/health", "/ready", "/metrics", "/schema")


class AuthSettings(BaseModel):
    """How API bearer tokens are checked."""

    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_key: SecretStr = SecretStr("")
    """HS256: the shared secret. RS256: the issuer's public key (PEM)."""
    jwt_audience: str | None = None
    jwt_issuer: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token subject acting for one tenant."""

    tenant: str
    subject: str


class AuthNotConfiguredError(RuntimeError):
    """The API would start without a key to check tokens with."""


async def _principal(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    tenant = token.extras.get(TENANT_CLAIM)
    if not isinstance(tenant, str) or not tenant:
        return None  # → 401: a token without a tenant sees nothing
    return Principal(tenant=tenant, subject=token.sub)


def tenant_jwt_auth(
    settings: AuthSettings, *, exclude: Sequence[str] = OPEN_PATHS
) -> JWTAuth[Principal, Token]:
    """Litestar JWT auth that requires a ``tenant`` claim; health/metrics/schema stay open."""
    key = settings.jwt_key.get_secret_value()
    if not key:
        raise AuthNotConfiguredError("set SWITCHBOARD_AUTH__JWT_KEY (secret or public key)")
    return JWTAuth[Principal, Token](
        token_secret=key,
        retrieve_user_handler=_principal,
        algorithm=settings.jwt_algorithm,
        exclude=[f"^{p}" for p in exclude],
        accepted_audiences=[settings.jwt_audience] if settings.jwt_audience else None,
        accepted_issuers=[settings.jwt_issuer] if settings.jwt_issuer else None,
        require_claims=[TENANT_CLAIM],
    )


def tenant_of(request: Request[Principal, Token, Any]) -> str:
    """Dependency: the caller's tenant (every query filters by it)."""
    return request.user.tenant


def issue_token(
    signing_key: str,
    tenant: str,
    *,
    algorithm: str = "HS256",
    subject: str = "switchboard",
    ttl: timedelta = timedelta(hours=1),
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """A bearer token for ``tenant`` (tests, local tools; production tokens come from your IdP)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {"sub": subject, "iat": now, "exp": now + ttl, TENANT_CLAIM: tenant}
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    # The tenant is a top-level claim, as an identity provider would issue it.
    return jwt.encode(claims, signing_key, algorithm=algorithm)
