"""Per-tenant request limits on the service APIs: the key is the token's tenant, so one
tenant's burst (or a leaked token) slows that tenant only, whatever address it comes from.

Litestar's ``RateLimitConfig`` (memory or Redis store) keyed by the :class:`Principal` the
bearer middleware put on the request, so this middleware must run after it
(:class:`~switchboard.common.auth.service.ApiAuth` inserts it right behind). Requests without a
principal never get here (401 first); the open paths are not limited.
"""

from typing import Any, Final

from litestar import Request
from litestar.middleware.rate_limit import RateLimitConfig

from switchboard.common.auth.principal import OPEN_PATHS, Principal, open_path_patterns
from switchboard.common.auth.settings import AuthSettings

RATE_LIMIT_STORE: Final = "tenant_rate_limit"


def rate_key(request: Request[Any, Any, Any]) -> str:
    """``tenant:<id>``; an operator token (no tenant) is limited per key."""
    user = request.scope.get("user")
    if isinstance(user, Principal):
        return f"tenant:{user.tenant}" if user.tenant is not None else f"operator:{user.subject}"
    return "anonymous"


def tenant_rate_limit(settings: AuthSettings) -> RateLimitConfig | None:
    """The limit of ``settings`` (None when it is off)."""
    if settings.rate_limit_per_second <= 0:
        return None
    return RateLimitConfig(
        rate_limit=("second", settings.rate_limit_per_second),
        exclude=open_path_patterns(OPEN_PATHS),
        identifier_for_request=rate_key,
        store=RATE_LIMIT_STORE,
    )
