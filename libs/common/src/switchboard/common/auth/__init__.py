"""Bearer-token auth for every API: the control plane's EdDSA tokens, one audience per service,
scopes, keys by id (issue 15).

- :mod:`.tokens`: minting (the control plane) and :class:`TokenVerifier` (everyone);
- :mod:`.service`: ``api_auth(settings, Audience.X)`` wires a service API in one call — keys
  followed on ``control.config``, the bearer middleware, the per-tenant rate limit;
- :mod:`.principal`: :class:`Principal`, :func:`tenant_of`, the :func:`requires` and
  :func:`scoped` guards;
- :mod:`.signer`: :class:`LocalSigner`, tokens of one's own key for tests and tools.
"""

from switchboard.common.auth.keys import EXAMPLE_KEYS, check_symmetric_key, refuse_example_keys
from switchboard.common.auth.middleware import ControlJWTAuth
from switchboard.common.auth.principal import (
    OPEN_PATHS,
    AuthNotConfiguredError,
    Principal,
    open_path_patterns,
    requires,
    scoped,
    tenant_of,
    unguarded_routes,
)
from switchboard.common.auth.scopes import AUDIENCE_OF, TENANT_SCOPES, Audience, Scope, scopes_for
from switchboard.common.auth.settings import AuthSettings
from switchboard.common.auth.signer import LocalSigner
from switchboard.common.auth.tokens import (
    PublicKeys,
    StaticPublicKeys,
    TokenRejected,
    TokenVerifier,
    mint_token,
)

__all__ = [
    "AUDIENCE_OF",
    "EXAMPLE_KEYS",
    "OPEN_PATHS",
    "TENANT_SCOPES",
    "Audience",
    "AuthNotConfiguredError",
    "AuthSettings",
    "ControlJWTAuth",
    "LocalSigner",
    "Principal",
    "PublicKeys",
    "Scope",
    "StaticPublicKeys",
    "TokenRejected",
    "TokenVerifier",
    "check_symmetric_key",
    "mint_token",
    "open_path_patterns",
    "refuse_example_keys",
    "requires",
    "scoped",
    "scopes_for",
    "tenant_of",
    "unguarded_routes",
]
