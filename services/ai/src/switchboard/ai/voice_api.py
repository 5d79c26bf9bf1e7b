"""The internal voice API (Litestar): the ingress's synchronous questions about live calls.

Authenticated by a shared internal secret (``Authorization: Bearer``, compared in constant
time with each of ``voice.internal_secrets``) and reachable only from the ingress (the
NetworkPolicy of ``ai-voice``; no route in the public Ingress). The contract's models live in
``switchboard.common.voice``; a query no business owns answers ``404 {"reason": "unowned"}``.
"""

import hmac
import time
from collections.abc import Sequence
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody
from pydantic import SecretStr

from switchboard.ai.voice import VoiceService
from switchboard.common.voice import (
    DEADLINE_HEADER,
    AssistantQuery,
    ToolsQuery,
    TransferQuery,
    Unowned,
)


def secret_ok(header: str | None, secrets: Sequence[SecretStr]) -> bool:
    """``Bearer <one of secrets>``, compared as bytes in constant time; fails closed."""
    if not header or not header.startswith("Bearer ") or not secrets:
        return False
    given = header[7:].encode()
    return any(hmac.compare_digest(s.get_secret_value().encode(), given) for s in secrets)


def internal_guard(secrets: Sequence[SecretStr]) -> Any:
    """A Litestar guard: 401 unless the request carries an internal secret."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not secret_ok(connection.headers.get("authorization"), secrets):
            raise NotAuthorizedException(detail="an internal secret is required")

    return guard


def _unowned() -> Response[Any]:
    return Response(
        Unowned(detail="no business of the channel's tenant serves this call").model_dump(),
        status_code=404,
    )


def deadline_of(request: Request[Any, Any, Any], default_s: float) -> tuple[float, float]:
    """(seconds the caller waits, monotonic time the request arrived)."""
    arrived = time.monotonic()
    raw = request.headers.get(DEADLINE_HEADER, "")
    try:
        ms = float(raw)
    except ValueError:
        return default_s, arrived
    return (ms / 1000 if ms > 0 else default_s), arrived


class VoiceController(Controller):
    path = "/internal/v1/voice"
    tags = ("voice (internal)",)

    @post("/assistant", status_code=200)
    async def assistant(
        self, data: JSONBody[AssistantQuery], voice: NamedDependency[VoiceService]
    ) -> Response[Any]:
        """Which assistant takes the call, with its variables (and ElevenLabs overrides)."""
        answer = await voice.assistant(data)
        return _unowned() if answer is None else Response(answer.model_dump(mode="json"))

    @post("/tools", status_code=200)
    async def tools(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ToolsQuery],
        voice: NamedDependency[VoiceService],
        default_deadline_s: NamedDependency[float],
    ) -> Response[Any]:
        """A result or an error for each tool call, within the caller's deadline."""
        deadline_s, arrived = deadline_of(request, default_deadline_s)
        left = deadline_s - (time.monotonic() - arrived)
        answer = await voice.tools(data, left)
        return _unowned() if answer is None else Response(answer.model_dump(mode="json"))

    @post("/transfer", status_code=200)
    async def transfer(
        self, data: JSONBody[TransferQuery], voice: NamedDependency[VoiceService]
    ) -> Response[Any]:
        """The business's transfer destination for this moment, in its time zone."""
        answer = await voice.transfer(data)
        return _unowned() if answer is None else Response(answer.model_dump(mode="json"))
