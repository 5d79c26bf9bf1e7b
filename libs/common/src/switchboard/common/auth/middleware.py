"""Litestar wiring of :class:`~switchboard.common.auth.tokens.TokenVerifier`: every request but
the open paths needs ``Authorization: Bearer <control-plane token for this service>``.

    auth = ControlJWTAuth(TokenVerifier(Audience.HISTORY, keys))
    Litestar(on_app_init=[auth.on_app_init], guards=[requires(Scope.HISTORY_READ)], ...)
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from litestar.config.app import AppConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ASGIApp

from switchboard.common.auth.principal import OPEN_PATHS, open_path_patterns
from switchboard.common.auth.tokens import TokenRejected, TokenVerifier

SCHEME_NAME = "BearerToken"

TenantCheck = Callable[[str], str | None]
"""Why a tenant's requests are refused right now (``None``: they are not), e.g. suspended."""


class _BearerMiddleware(AbstractAuthenticationMiddleware):
    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        exclude: list[str],
        tenant_check: TenantCheck | None,
    ) -> None:
        super().__init__(app, exclude=exclude)
        self._verifier = verifier
        self._tenant_check = tenant_check

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("a bearer token is required")
        try:
            principal = self._verifier.verify(token.strip())
        except TokenRejected as exc:
            raise NotAuthorizedException(str(exc)) from exc
        if principal.tenant is not None and self._tenant_check is not None:
            refused = self._tenant_check(principal.tenant)
            if refused is not None:
                # A token outlives a suspension by up to its lifetime: refused here at once.
                raise PermissionDeniedException(refused)
        return AuthenticationResult(user=principal, auth=token)


@dataclass(frozen=True, slots=True)
class ControlJWTAuth:
    """Bearer auth with control-plane tokens; ``on_app_init`` adds the middleware and the
    OpenAPI security scheme."""

    verifier: TokenVerifier
    exclude: Sequence[str] = field(default=OPEN_PATHS)
    tenant_check: TenantCheck | None = None

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.middleware.insert(
            0,
            DefineMiddleware(
                _BearerMiddleware,
                verifier=self.verifier,
                exclude=open_path_patterns(self.exclude),
                tenant_check=self.tenant_check,
            ),
        )
        scheme = SecurityScheme(type="http", scheme="Bearer", bearer_format="JWT")
        openapi = app_config.openapi_config
        if openapi is not None:
            components = openapi.components
            if isinstance(components, Components):
                components.security_schemes = {
                    **(components.security_schemes or {}),
                    SCHEME_NAME: scheme,
                }
            openapi.security = [*(openapi.security or []), {SCHEME_NAME: []}]
        return app_config
