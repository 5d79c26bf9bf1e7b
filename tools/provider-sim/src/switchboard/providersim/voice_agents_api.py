"""The voice-agent platforms' fetch endpoints, for a reconciler.

``GET /call/{id}`` (Vapi, ``Authorization: Bearer``), ``GET /v1/convai/conversations`` (list,
newest first, cursor paging) and ``GET /v1/convai/conversations/{id}`` (ElevenLabs,
``xi-api-key``).
"""

import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from switchboard.providersim.deps import SimDep

AnyRequest = Request[Any, Any, State]

DEFAULT_PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
AGENT_NAME = "sim agent"
_INT_PARAMS = ("cursor", "page_size", "call_start_after_unix", "call_start_before_unix")


def _elevenlabs_refused(request: AnyRequest, api_key: str) -> Response[Any] | None:
    """ElevenLabs' 401 when ``xi-api-key`` is missing or wrong, else ``None``."""
    given = request.headers.get("xi-api-key", "")
    if hmac.compare_digest(given.encode(), api_key.encode()):
        return None
    return Response(
        {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
        status_code=401,
    )


def _invalid(name: str, message: str) -> Response[Any]:
    """A FastAPI-style 422, as ElevenLabs answers a malformed query parameter."""
    return Response(
        {"detail": [{"loc": ["query", name], "msg": message, "type": "value_error"}]},
        status_code=422,
    )


def _summary(conversation: Mapping[str, Any]) -> dict[str, Any]:
    metadata = conversation["metadata"]
    analysis = conversation.get("analysis") or {}
    return {
        "agent_id": conversation["agent_id"],
        "agent_name": AGENT_NAME,
        "conversation_id": conversation["conversation_id"],
        "start_time_unix_secs": metadata["start_time_unix_secs"],
        "call_duration_secs": metadata["call_duration_secs"],
        "message_count": len(conversation["transcript"]),
        "status": conversation["status"],
        "call_successful": analysis.get("call_successful"),
    }


def conversation_page(
    conversations: Iterable[Mapping[str, Any]],
    *,
    cursor: int = 0,
    page_size: int = DEFAULT_PAGE_SIZE,
    after: int | None = None,
    before: int | None = None,
    agent_id: str | None = None,
) -> dict[str, Any]:
    """One page of the list: started in ``[after, before]`` (both inclusive), of ``agent_id``,
    newest first (ties by id); the cursor is the offset of the next page."""
    rows = sorted(
        (
            c
            for c in conversations
            if (after is None or c["metadata"]["start_time_unix_secs"] >= after)
            and (before is None or c["metadata"]["start_time_unix_secs"] <= before)
            and (agent_id is None or c["agent_id"] == agent_id)
        ),
        key=lambda c: (-c["metadata"]["start_time_unix_secs"], c["conversation_id"]),
    )
    size = min(page_size, MAX_PAGE_SIZE)
    more = cursor + size < len(rows)
    return {
        "conversations": [_summary(c) for c in rows[cursor : cursor + size]],
        "has_more": more,
        "next_cursor": str(cursor + size) if more else None,
    }


class VoiceAgentApi(Controller):
    """Fetch a Vapi call or an ElevenLabs conversation."""

    path = "/"
    include_in_schema = False

    @get("/call/{call_id:str}")
    async def vapi_call(
        self, request: AnyRequest, call_id: FromPath[str], sim: SimDep
    ) -> Response[Any]:
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), sim.config.vapi.api_key.encode()):
            return Response(
                {
                    "message": "Invalid Key. Hot tip, you may be using the private key "
                    "instead of the public key, or vice versa.",
                    "error": "Unauthorized",
                    "statusCode": 401,
                },
                status_code=401,
            )
        call = sim.vapi_calls.get(call_id)
        if call is None:
            return Response({"message": "Not Found", "statusCode": 404}, status_code=404)
        return Response(call)

    @get("/v1/convai/conversations")
    async def elevenlabs_conversations(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        refused = _elevenlabs_refused(request, sim.config.elevenlabs.api_key)
        if refused is not None:
            return refused
        query = request.query_params
        numbers: dict[str, int] = {}
        for name in _INT_PARAMS:
            raw = query.get(name)
            if raw is None:
                continue
            try:
                numbers[name] = int(raw)
            except ValueError:
                return _invalid(name, "value is not a valid integer")
        if numbers.get("cursor", 0) < 0:
            return _invalid("cursor", "unknown cursor")
        if numbers.get("page_size", DEFAULT_PAGE_SIZE) < 1:
            return _invalid("page_size", "ensure this value is greater than or equal to 1")
        page = conversation_page(
            list(sim.elevenlabs_conversations.values()),
            cursor=numbers.get("cursor", 0),
            page_size=numbers.get("page_size", DEFAULT_PAGE_SIZE),
            after=numbers.get("call_start_after_unix"),
            before=numbers.get("call_start_before_unix"),
            agent_id=query.get("agent_id"),
        )
        return Response(page)

    @get("/v1/convai/conversations/{conversation_id:str}")
    async def elevenlabs_conversation(
        self, request: AnyRequest, conversation_id: FromPath[str], sim: SimDep
    ) -> Response[Any]:
        refused = _elevenlabs_refused(request, sim.config.elevenlabs.api_key)
        if refused is not None:
            return refused
        conversation = sim.elevenlabs_conversations.get(conversation_id)
        if conversation is None:
            return Response(
                {"detail": {"status": "conversation_not_found", "message": "Not found"}},
                status_code=404,
            )
        return Response(conversation)
