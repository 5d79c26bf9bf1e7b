"""The AI service's internal voice API: the contract between the ingress (which verifies a
voice platform's synchronous request and shapes the answer the platform expects) and the AI
service (which owns businesses and their knowledge, and decides the answer).

Provider-neutral on purpose: the ingress turns a Vapi ``assistant-request`` or an ElevenLabs
conversation initiation into an :class:`AssistantQuery`, and the :class:`AssistantAnswer` back
into Vapi's or ElevenLabs' answer; fallbacks are shaped there too.

Authenticated with a shared internal secret (``Authorization: Bearer``; several accepted at
once so it rotates without downtime) and reachable only from the ingress (NetworkPolicy).
The ingress says how long it will wait in :data:`DEADLINE_HEADER`, so the AI service can bound
its own calls (a tenant's HTTP tool) and answer in time. A query whose channels no tenant's
business owns is answered ``404 {"reason": "unowned"}``.
"""

import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from switchboard.common.config.entities import CHANNEL_KINDS, channel_id_problem
from switchboard.common.events.voice import VoiceProvider, VoiceRequest

ASSISTANT_PATH: Final = "/internal/v1/voice/assistant"
TOOLS_PATH: Final = "/internal/v1/voice/tools"
TRANSFER_PATH: Final = "/internal/v1/voice/transfer"
DEADLINE_HEADER: Final = "x-switchboard-deadline-ms"
"""Milliseconds the caller waits for the answer, counted from when it sent the request."""
UNOWNED: Final = "unowned"
"""``reason`` of the 404 answered when no business owns the query's channels."""
MAX_TOOL_CALLS: Final = 16
STANDARD_VARIABLES: Final = (
    "business_name",
    "today",
    "local_time",
    "hours_today",
    "open_now",
    "caller_number",
    "caller_known",
    "caller_last_contact",
    "caller_last_message",
)
"""Variables the AI service computes for every call (a business's own cannot replace them).
A fallback sends them too, empty, so an ElevenLabs agent that defines them still starts."""

_REF = re.compile(r"^([a-z-]+)/(.+)$")


def channel_ref(kind: str, channel_id: str) -> str:
    """``kind/id``: a channel as the control plane keys it (``channel/<kind>/<id>``)."""
    return f"{kind}/{channel_id}"


def check_channel_refs(refs: list[str]) -> list[str]:
    """``refs`` when each is ``<kind>/<id>`` with a channel kind and a valid id of it;
    ValueError naming the first that is not."""
    for ref in refs:
        found = _REF.match(ref)
        if found is None or found.group(1) not in CHANNEL_KINDS:
            raise ValueError(f"{ref!r} is not <kind>/<id> with a channel kind")
        problem = channel_id_problem(found.group(1), found.group(2))
        if problem:
            raise ValueError(f"{ref!r}: {problem}")
    return refs


class _Contract(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VoiceQuery(_Contract):
    """What every query says about the call."""

    provider: VoiceProvider
    request: VoiceRequest
    tenant: str | None = None
    """The tenant the ingress verified the request for (the account whose secret signed it);
    a channel bound to another tenant is not answered for it. None: the ingress does not know."""
    call_id: str = Field(min_length=1, max_length=256)
    channels: list[str] = Field(min_length=1, max_length=8)
    """Candidate channels in order (``vapi-phone/<id>``, ``phone/<E.164>``,
    ``vapi-assistant/<id>``, ``elevenlabs-agent/<id>``): the first one a business of its
    tenant serves answers."""
    caller: str | None = Field(default=None, max_length=64)
    """The customer's number (E.164), for what the business knows of them."""

    @field_validator("channels")
    @classmethod
    def _refs(cls, refs: list[str]) -> list[str]:
        return check_channel_refs(refs)


class AssistantQuery(VoiceQuery):
    """Which assistant takes the call, with what variables (and ElevenLabs overrides)."""


class ToolCall(_Contract):
    id: str = Field(min_length=1, max_length=256)
    name: str = Field(min_length=1, max_length=128)
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolsQuery(VoiceQuery):
    """Tool calls of the call's assistant, answered one result (or error) each."""

    calls: list[ToolCall] = Field(min_length=1, max_length=MAX_TOOL_CALLS)


class TransferQuery(VoiceQuery):
    """Where to transfer the caller now (the business's destination for the time of day)."""


class AssistantAnswer(_Contract):
    business_id: str
    business_name: str
    assistant_id: str | None = None
    """A saved Vapi assistant."""
    assistant: dict[str, Any] | None = None
    """A transient Vapi assistant (the business's own definition, passed through)."""
    variables: dict[str, str] = Field(default_factory=dict)
    """Vapi ``assistantOverrides.variableValues`` / ElevenLabs ``dynamic_variables``."""
    overrides: dict[str, Any] | None = None
    """ElevenLabs ``conversation_config_override``: only the fields the agent allows."""


class ToolResult(_Contract):
    id: str
    name: str
    result: str | None = None
    error: str | None = None


class ToolsAnswer(_Contract):
    business_id: str
    results: list[ToolResult]


class TransferAnswer(_Contract):
    business_id: str
    number: str | None = None
    """E.164 destination; None when the business has none at this time."""
    message: str | None = None
    """Spoken to the caller before the transfer (or instead of it, without a number)."""


class Unowned(_Contract):
    """The 404 body when no business owns the call's channels."""

    reason: Literal["unowned"] = "unowned"
    detail: str = ""
