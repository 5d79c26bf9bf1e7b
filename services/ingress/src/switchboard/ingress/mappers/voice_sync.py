"""Synchronous voice requests → what the AI service is asked, and the event that records the
exchange. Pure: parsing and mapping, no I/O.

Vapi (``{"message": {...}}``): ``assistant-request``, ``tool-calls`` (``toolCallList``, each
``{id, name, parameters}`` or OpenAI-style ``{id, function: {name, arguments}}``; arguments may
be a JSON string), the older ``function-call`` (``functionCall: {name, parameters}``), and
``transfer-destination-request``. The call's channels, in the order they are tried:
``vapi-phone/<phoneNumber.id | call.phoneNumberId>``, ``phone/<phoneNumber.number>``,
``vapi-assistant/<call.assistantId | assistant.id>``.

ElevenLabs: the conversation-initiation webhook (``{caller_id, agent_id, called_number,
call_sid}``) and server tools, whose body is the tool's parameters plus the context the tool
is configured to send from system variables (``conversation_id``, ``agent_id``, ``caller_id``,
``called_number``); channels ``elevenlabs-agent/<agent_id>``, ``phone/<called_number>``.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from switchboard.common.config.entities import channel_id_problem
from switchboard.common.events import (
    CallAssistantRequested,
    CallToolsCalled,
    CallTransferRequested,
    Event,
    VoiceOutcome,
    VoiceProvider,
    VoiceRequest,
    VoiceToolCall,
    event_id,
)
from switchboard.common.topics import CALL_EVENTS
from switchboard.common.voice import MAX_TOOL_CALLS, ToolCall, channel_ref
from switchboard.ingress.errors import PayloadInvalid
from switchboard.ingress.mappers import Outgoing

SOURCES: Final = {
    "vapi": "/switchboard/ingress/vapi",
    "elevenlabs": "/switchboard/ingress/elevenlabs",
}
VAPI_SYNC_TYPES: Final = frozenset(
    {"assistant-request", "tool-calls", "function-call", "transfer-destination-request"}
)
ELEVENLABS_CONTEXT: Final = ("conversation_id", "agent_id", "caller_id", "called_number")
"""Keys of a server tool's body that say which call it is, not what the tool is asked."""


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """One synchronous request, as the AI service is asked about it."""

    provider: VoiceProvider
    request: VoiceRequest
    call_id: str
    channels: list[str]
    caller: str | None = None
    agent_id: str | None = None
    to_number: str | None = None
    calls: list[ToolCall] = field(default_factory=list)
    ids: tuple[str, ...] = ()
    """What makes the exchange's event id (a platform's retry of it gets the same id)."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _channels(*candidates: tuple[str, str | None]) -> list[str]:
    """Valid ``kind/id`` refs in order (an id that is not a valid id of its kind is left out:
    nobody can have bound it)."""
    refs: list[str] = []
    for kind, channel_id in candidates:
        if channel_id and channel_id_problem(kind, channel_id) is None:
            ref = channel_ref(kind, channel_id)
            if ref not in refs:
                refs.append(ref)
    return refs


def _arguments(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"input": value}
    return value if isinstance(value, dict) else {}


def _vapi_calls(message: dict[str, Any]) -> list[ToolCall]:
    calls: list[ToolCall] = []
    items = message.get("toolCallList")
    if not isinstance(items, list):
        items = [_dict(w).get("toolCall") for w in message.get("toolWithToolCallList") or []]
    for item in items:
        item = _dict(item)
        function = _dict(item.get("function"))
        name = _str(item.get("name")) or _str(function.get("name"))
        call_id = _str(item.get("id"))
        if not name or not call_id:
            raise PayloadInvalid(detail="message.toolCallList: each call needs an id and a name")
        raw_args = item.get("parameters", item.get("arguments", function.get("arguments")))
        calls.append(ToolCall(id=call_id[:256], name=name[:128], arguments=_arguments(raw_args)))
    if not calls:
        raise PayloadInvalid(detail="message.toolCallList: no tool call")
    return calls[:MAX_TOOL_CALLS]


def vapi_request(body: Any) -> SyncRequest:
    """The synchronous request of a Vapi server message (its type is one of
    :data:`VAPI_SYNC_TYPES`); PayloadInvalid (422) when it cannot be read."""
    message = _dict(_dict(body).get("message"))
    kind = message.get("type")
    if kind not in VAPI_SYNC_TYPES:
        raise PayloadInvalid(detail=f"message.type: {kind!r} is not a synchronous type")
    call = _dict(message.get("call"))
    call_id = _str(call.get("id"))
    if call_id is None:
        raise PayloadInvalid(detail="message.call.id: Field required")
    phone = _dict(message.get("phoneNumber"))
    customer = _dict(message.get("customer")) or _dict(call.get("customer"))
    assistant_id = _str(call.get("assistantId")) or _str(_dict(message.get("assistant")).get("id"))
    number = _str(phone.get("number"))
    channels = _channels(
        ("vapi-phone", _str(phone.get("id")) or _str(call.get("phoneNumberId"))),
        ("phone", number),
        ("vapi-assistant", assistant_id),
    )
    calls: list[ToolCall] = []
    ids: tuple[str, ...] = (call_id, kind)
    if kind == "tool-calls":
        calls = _vapi_calls(message)
        ids = (call_id, kind, *(c.id for c in calls))
    elif kind == "function-call":
        function = _dict(message.get("functionCall"))
        name = _str(function.get("name"))
        if name is None:
            raise PayloadInvalid(detail="message.functionCall.name: Field required")
        arguments = _arguments(function.get("parameters"))
        calls = [ToolCall(id="function-call", name=name[:128], arguments=arguments)]
        ids = (call_id, kind, str(message.get("timestamp")), name)
    elif kind == "transfer-destination-request":
        ids = (call_id, kind, str(message.get("timestamp")))
    return SyncRequest(
        provider="vapi",
        request=kind,
        call_id=call_id[:256],
        channels=channels,
        caller=_str(customer.get("number")),
        agent_id=assistant_id,
        to_number=number,
        calls=calls,
        ids=ids,
    )


def elevenlabs_initiation(body: Any) -> SyncRequest:
    """The conversation-initiation webhook's request."""
    data = _dict(body)
    call_sid = _str(data.get("call_sid"))
    agent_id = _str(data.get("agent_id"))
    if call_sid is None or agent_id is None:
        raise PayloadInvalid(detail="call_sid and agent_id are required")
    called = _str(data.get("called_number"))
    return SyncRequest(
        provider="elevenlabs",
        request="conversation-initiation",
        call_id=call_sid[:256],
        channels=_channels(("elevenlabs-agent", agent_id), ("phone", called)),
        caller=_str(data.get("caller_id")),
        agent_id=agent_id,
        to_number=called,
        ids=(call_sid, "conversation-initiation"),
    )


def elevenlabs_tool(tool: str, body: Any, received: datetime) -> SyncRequest:
    """A server tool's request: ``tool`` from the URL path, its arguments from the body."""
    data = _dict(body)
    conversation = _str(data.get("conversation_id"))
    if conversation is None:
        raise PayloadInvalid(
            detail="conversation_id is required (send {{system__conversation_id}})"
        )
    agent_id = _str(data.get("agent_id"))
    called = _str(data.get("called_number"))
    arguments = {k: v for k, v in data.items() if k not in ELEVENLABS_CONTEXT}
    digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()[:16]
    # ElevenLabs sends no tool call id; this one is unique per request (it does not retry).
    call_id = f"{tool}-{digest}-{int(received.timestamp() * 1000)}"
    return SyncRequest(
        provider="elevenlabs",
        request="server-tool",
        call_id=conversation[:256],
        channels=_channels(("elevenlabs-agent", agent_id), ("phone", called)),
        caller=_str(data.get("caller_id")),
        agent_id=agent_id,
        to_number=called,
        calls=[ToolCall(id=call_id, name=tool[:128], arguments=arguments)],
        ids=(conversation, "server-tool", call_id),
    )


@dataclass(frozen=True, slots=True)
class Exchange:
    """What was asked and answered, for the event."""

    request: SyncRequest
    tenant: str | None
    outcome: VoiceOutcome
    answer: dict[str, Any]
    answered_in_ms: float
    occurred_at: datetime
    business_id: str | None = None
    assistant_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    results: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    """Tool call id → (result, error)."""
    destination: str | None = None


def exchange_event(x: Exchange) -> Outgoing:
    """The event of a synchronous exchange, on ``call.events`` keyed by the call."""
    r = x.request
    common: dict[str, Any] = {
        "provider": r.provider,
        "request": r.request,
        "call_id": r.call_id,
        "agent_id": r.agent_id,
        "to_number": r.to_number,
        "from_number": r.caller,
        "business_id": x.business_id,
        "outcome": x.outcome,
        "answered_in_ms": round(x.answered_in_ms, 3),
        "answer": x.answer,
        "occurred_at": x.occurred_at,
    }
    data: CallAssistantRequested | CallToolsCalled | CallTransferRequested
    if r.request in ("assistant-request", "conversation-initiation"):
        data = CallAssistantRequested(**common, assistant_id=x.assistant_id, variables=x.variables)
    elif r.request == "transfer-destination-request":
        data = CallTransferRequested(**common, destination=x.destination)
    else:
        data = CallToolsCalled(
            **common,
            calls=[
                VoiceToolCall(
                    id=c.id,
                    name=c.name,
                    arguments=c.arguments,
                    result=x.results.get(c.id, (None, None))[0],
                    error=x.results.get(c.id, (None, None))[1],
                )
                for c in r.calls
            ],
        )
    event = Event(
        id=event_id(r.provider, *r.ids),
        source=SOURCES[r.provider],
        subject=r.call_id,
        tenant=x.tenant,
        data=data,
    )
    return Outgoing(CALL_EVENTS, r.call_id, event)
