"""Bearer-token auth for every API.

Two token kinds during the move to the control plane (issue 15):
- ``local``: one configured key (HS256 secret or RS256 public key), a ``tenant`` claim;
  what the services use today (:func:`tenant_jwt_auth`).
- ``tokens``: the control plane's EdDSA tokens, one audience per service, scopes, keys by id
  (:class:`TokenVerifier` + :class:`ControlJWTAuth`).
Both give a :class:`Principal`; :func:`tenant_of` and the :func:`requires` guard work on either.
"""

from switchboard.common.auth.keys import EXAMPLE_KEYS, check_symmetric_key
from switchboard.common.auth.local import AuthSettings, issue_token, tenant_jwt_auth
from switchboard.common.auth.middleware import ControlJWTAuth
from switchboard.common.auth.principal import (
    OPEN_PATHS,
    AuthNotConfiguredError,
    Principal,
    open_path_patterns,
    requires,
    tenant_of,
)
from switchboard.common.auth.scopes import AUDIENCE_OF, TENANT_SCOPES, Audience, Scope, scopes_for
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
    "Principal",
    "PublicKeys",
    "Scope",
    "StaticPublicKeys",
    "TokenRejected",
    "TokenVerifier",
    "check_symmetric_key",
    "issue_token",
    "mint_token",
    "open_path_patterns",
    "requires",
    "scopes_for",
    "tenant_jwt_auth",
    "tenant_of",
]
