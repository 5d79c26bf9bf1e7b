"""Who is calling, what it may do, and which paths need nobody: shared by both token kinds
(the local HS256 tokens and the control plane's EdDSA tokens)."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

OPEN_PATHS: Final = ("/health", "/ready", "/metrics", "/schema/*")
"""Paths served without a token. Exact paths; ``/x/*`` also opens everything below ``/x/``."""


class AuthNotConfiguredError(RuntimeError):
    """The API would start without a usable key to check tokens with."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token subject acting for one tenant (``None``: the platform
    operator), with the scopes its token grants."""

    tenant: str | None
    subject: str
    scopes: frozenset[str] = frozenset()

    def has(self, *scopes: str) -> bool:
        return set(scopes) <= self.scopes


def open_path_patterns(paths: Iterable[str]) -> list[str]:
    """Anchored regular expressions for Litestar's ``exclude``: ``/health`` opens ``/health``
    only (a prefix match would also open ``/healthzzz``); ``/schema/*`` opens ``/schema`` and
    what lies below it."""
    patterns = []
    for path in paths:
        if path.endswith("/*"):
            base = path[:-2]
            patterns.append(f"^{_escape(base)}(?:/.*)?$")
        else:
            patterns.append(f"^{_escape(path)}$")
    return patterns


def _escape(path: str) -> str:
    # re.escape would also escape "/" needlessly; paths hold only URL-safe characters.
    return "".join("\\" + c if c in ".^$*+?{}[]\\|()" else c for c in path)


def tenant_of(request: Request[Principal, Any, Any]) -> str:
    """Dependency: the caller's tenant (every query filters by it); an operator token, which
    acts for no tenant, gets 403 here."""
    tenant = request.user.tenant
    if tenant is None:
        raise PermissionDeniedException("this endpoint needs a tenant's token")
    # On every line the request logs from here (uvicorn runs each request in a task of its
    # own, so the binding ends with it).
    structlog.contextvars.bind_contextvars(tenant=tenant)
    return tenant


def requires(*scopes: str) -> Guard:
    """A Litestar guard: 403 unless the caller's token grants every one of ``scopes``.

    ``Controller(guards=[requires("history:read")])`` or ``@post(..., guards=[...])``.
    """

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.user
        if not isinstance(principal, Principal):
            raise PermissionDeniedException("no principal")
        missing = sorted(set(scopes) - principal.scopes)
        if missing:
            raise PermissionDeniedException(f"the token lacks the scope {', '.join(missing)}")

    return guard


READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def scoped(read: str, write: str) -> Guard:
    """A guard for a controller with both kinds of routes: ``read`` for GET and HEAD, ``write``
    (which must be held alone: writing does not imply reading) for every other method."""
    read_guard, write_guard = requires(read), requires(write)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        method = connection.scope.get("method", "GET")
        (read_guard if method in READ_METHODS else write_guard)(connection, handler)

    return guard


def unguarded_routes(app: Any, open_paths: Iterable[str] = OPEN_PATHS) -> list[str]:
    """``METHOD path`` of every route of a Litestar ``app`` outside ``open_paths`` that no
    guard protects (tests assert it is empty: every route asks for a scope)."""
    patterns = [re.compile(p) for p in open_path_patterns(open_paths)]
    found = []
    for route in app.routes:
        if any(p.match(route.path) for p in patterns):
            continue
        for handler in getattr(route, "route_handlers", ()):
            methods = sorted(getattr(handler, "http_methods", ()) or ("WS",))
            if methods == ["OPTIONS"]:
                continue  # Litestar's own CORS preflight answer
            if not handler.resolve_guards():
                found.append(f"{','.join(methods)} {route.path}")
    return found
