"""The voice-agent platforms' fetch endpoints, for a reconciler.

``GET /call/{id}`` (Vapi, ``Authorization: Bearer``) and ``GET /v1/convai/conversations/{id}``
(ElevenLabs, ``xi-api-key``).
"""

import hmac
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath

from switchboard.providersim.deps import SimDep

AnyRequest = Request[Any, Any, State]


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

    @get("/v1/convai/conversations/{conversation_id:str}")
    async def elevenlabs_conversation(
        self, request: AnyRequest, conversation_id: FromPath[str], sim: SimDep
    ) -> Response[Any]:
        given = request.headers.get("xi-api-key", "")
        if not hmac.compare_digest(given.encode(), sim.config.elevenlabs.api_key.encode()):
            return Response(
                {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}},
                status_code=401,
            )
        conversation = sim.elevenlabs_conversations.get(conversation_id)
        if conversation is None:
            return Response(
                {"detail": {"status": "conversation_not_found", "message": "Not found"}},
                status_code=404,
            )
        return Response(conversation)
