"""Live voice-agent calls: the synchronous requests Vapi and ElevenLabs make while a caller is
on the line, each with the platform's time limit, and what they got back.

Vapi (``POST /_sim/voice-live/vapi``): ``assistant-request`` (7.5 s), then for each question
a ``tool-calls`` message calling ``search_knowledge`` (``server_timeout_s``), then an optional
``transfer-destination-request``, signed as ``vapi.auth_mode`` says. ElevenLabs (``POST
/_sim/voice-live/elevenlabs``): the conversation-initiation client-data webhook
(``<webhook_url>/initiation``), then a server tool per question (``<webhook_url>/tools/<tool>``),
both with ``Authorization: Bearer <tool_secret>``. Unlike the post-call webhooks these are
never retried (neither platform retries them): a late or failed answer is what the caller gets.
The exchanges are answered to the control call and kept on the call (``GET /_sim/voice-agents``).
"""

import json
import time
import uuid
from typing import Any

import httpx
from litestar import Controller, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody, SkipValidation
from pydantic import BaseModel, Field

from switchboard.providersim.signing import vapi_headers
from switchboard.providersim.state import SimState


class LiveVapiCall(BaseModel):
    """One inbound Vapi call on ``number`` (Vapi phone number id ``phone_number_id``)."""

    phone_number_id: str = "pn-provider-sim"
    number: str = "+15550000001"
    caller: str = "+15550000099"
    questions: list[str] = Field(default_factory=list, max_length=10)
    """Each asked through the ``search_knowledge`` tool, once an assistant is answered."""
    tool: str = "search_knowledge"
    transfer: bool = False
    """Ask for a transfer destination at the end."""


class LiveElevenLabsCall(BaseModel):
    """One inbound Twilio call to an ElevenLabs agent."""

    agent_id: str = "agent_provider_sim"
    called_number: str = "+15550000001"
    caller: str = "+15550000099"
    questions: list[str] = Field(default_factory=list, max_length=10)
    tool: str = "search_knowledge"


class LiveVoice:
    """Makes the synchronous requests of live calls and records each exchange."""

    def __init__(self, state: SimState, client: httpx.AsyncClient) -> None:
        self._state = state
        self._client = client

    async def _exchange(
        self,
        kind: str,
        url: str,
        payload: dict[str, Any],
        headers: dict[str, str],
        timeout_s: float,
        body: bytes | None = None,
    ) -> dict[str, Any]:
        content = body if body is not None else json.dumps(payload).encode()
        started = time.monotonic()
        status: int | None = None
        answer: Any = None
        error: str | None = None
        try:
            response = await self._client.post(
                url,
                content=content,
                headers={"Content-Type": "application/json", **headers},
                timeout=timeout_s,
            )
            status = response.status_code
            try:
                answer = response.json()
            except ValueError:
                answer = response.text[:500]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        elapsed = time.monotonic() - started
        exchange = {
            "request": kind,
            "status": status,
            "answer": answer,
            "error": error,
            "elapsed_ms": round(elapsed * 1000, 1),
            "timeout_s": timeout_s,
            "in_time": error is None and elapsed <= timeout_s,
        }
        self._state.record(kind, status=status, elapsed_ms=exchange["elapsed_ms"], error=error)
        return exchange

    async def vapi(self, c: LiveVapiCall) -> dict[str, Any]:
        cfg = self._state.config.vapi
        if not cfg.webhook_url:
            return {"error": "vapi.webhook_url is not configured"}
        call_id = str(uuid.uuid4())
        call: dict[str, Any] = {
            "id": call_id,
            "orgId": "org-provider-sim",
            "type": "inboundPhoneCall",
            "phoneNumberId": c.phone_number_id,
            "customer": {"number": c.caller},
            "status": "ringing",
        }
        phone = {"id": c.phone_number_id, "number": c.number}
        self._state.vapi_calls[call_id] = call
        exchanges: list[dict[str, Any]] = []

        async def send(message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
            body = json.dumps(
                {
                    "message": {
                        **message,
                        "timestamp": int(time.time() * 1000),
                        "call": dict(call),
                        "phoneNumber": phone,
                        "customer": {"number": c.caller},
                    }
                },
                separators=(",", ":"),
            ).encode()
            headers = vapi_headers(cfg.secret, body, cfg.auth_mode)
            kind = f"vapi.{message['type']}"
            x = await self._exchange(kind, cfg.webhook_url or "", {}, headers, timeout_s, body)
            exchanges.append(x)
            return x

        first = await send({"type": "assistant-request"}, cfg.assistant_timeout_s)
        answer = first["answer"] if isinstance(first["answer"], dict) else {}
        if "assistantId" in answer or "assistant" in answer:
            call["assistantId"] = answer.get("assistantId")
            call["status"] = "in-progress"
            for n, question in enumerate(c.questions):
                tool_call = {
                    "id": f"call_{call_id[:8]}_{n}",
                    "type": "function",
                    "function": {"name": c.tool, "arguments": {"query": question}},
                }
                await send(
                    {"type": "tool-calls", "toolCallList": [tool_call]}, cfg.server_timeout_s
                )
            if c.transfer:
                await send({"type": "transfer-destination-request"}, cfg.server_timeout_s)
        call["exchanges"] = exchanges
        return {"call_id": call_id, "exchanges": exchanges}

    async def elevenlabs(self, c: LiveElevenLabsCall) -> dict[str, Any]:
        cfg = self._state.config.elevenlabs
        if not cfg.webhook_url:
            return {"error": "elevenlabs.webhook_url is not configured"}
        base = cfg.webhook_url.rstrip("/")
        headers = {"Authorization": f"Bearer {cfg.tool_secret}"}
        call_sid = self._state.new_id("CA")
        conversation_id = "conv_" + self._state.new_id("", 26)
        exchanges = [
            await self._exchange(
                "elevenlabs.initiation",
                f"{base}/initiation",
                {
                    "caller_id": c.caller,
                    "agent_id": c.agent_id,
                    "called_number": c.called_number,
                    "call_sid": call_sid,
                },
                headers,
                cfg.assistant_timeout_s,
            )
        ]
        for question in c.questions:
            exchanges.append(
                await self._exchange(
                    "elevenlabs.server_tool",
                    f"{base}/tools/{c.tool}",
                    {
                        "query": question,
                        "conversation_id": conversation_id,
                        "agent_id": c.agent_id,
                        "caller_id": c.caller,
                        "called_number": c.called_number,
                    },
                    headers,
                    cfg.server_timeout_s,
                )
            )
        self._state.elevenlabs_conversations[conversation_id] = {
            "conversation_id": conversation_id,
            "agent_id": c.agent_id,
            "status": "done",
            "call_sid": call_sid,
            "exchanges": exchanges,
        }
        return {"conversation_id": conversation_id, "call_sid": call_sid, "exchanges": exchanges}


LiveDep = SkipValidation[NamedDependency[LiveVoice]]


class LiveVoiceControl(Controller):
    """Run one live voice-agent call and answer its exchanges."""

    path = "/_sim/voice-live"
    include_in_schema = False

    @post("/vapi", status_code=200)
    async def vapi(self, data: JSONBody[LiveVapiCall], live: LiveDep) -> dict[str, Any]:
        return await live.vapi(data)

    @post("/elevenlabs", status_code=200)
    async def elevenlabs(self, data: JSONBody[LiveElevenLabsCall], live: LiveDep) -> dict[str, Any]:
        return await live.elevenlabs(data)


def provide(live: LiveVoice) -> dict[str, Provide]:
    return {"live": Provide(lambda: live, use_cache=True, sync_to_thread=False)}
