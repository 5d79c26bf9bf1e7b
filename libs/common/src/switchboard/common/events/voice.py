"""Synchronous voice-agent exchanges, published to ``call.events`` keyed by the platform's call
(or conversation) id: what Vapi or ElevenLabs asked during a live call and what the ingress
answered — the business's answer, or the configured fallback when the AI service was too slow,
failed, or no tenant owns the number, assistant or agent.

One type per kind of question: the assistant (Vapi ``assistant-request``, ElevenLabs
conversation initiation), tool calls (Vapi ``tool-calls`` and ``function-call``, ElevenLabs
server tools) and a transfer destination (Vapi ``transfer-destination-request``).
"""

from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from switchboard.common.events.base import EventData

VoiceProvider = Literal["vapi", "elevenlabs"]
VoiceRequest = Literal[
    "assistant-request",
    "conversation-initiation",
    "tool-calls",
    "function-call",
    "server-tool",
    "transfer-destination-request",
]
VoiceOutcome = Literal["answered", "fallback_timeout", "fallback_error", "unowned"]
"""``answered``: the business's answer; ``fallback_timeout``: the AI service did not answer
within the deadline; ``fallback_error``: it failed; ``unowned``: no tenant's business owns the
call's number, assistant or agent (the configured default was answered)."""


class _VoiceExchange(EventData):
    """What every synchronous exchange records."""

    provider: VoiceProvider
    request: VoiceRequest
    call_id: str = Field(min_length=1, description="The platform's call / conversation id.")
    agent_id: str | None = Field(default=None, description="Vapi assistant / ElevenLabs agent.")
    to_number: str | None = Field(default=None, description="The number the caller dialled.")
    from_number: str | None = Field(default=None, description="The caller.")
    business_id: str | None = Field(default=None, description="The business that answered.")
    outcome: VoiceOutcome
    answered_in_ms: float = Field(ge=0, description="From the request's arrival to the answer.")
    answer: dict[str, Any] = Field(description="The JSON answered to the platform, as sent.")
    occurred_at: AwareDatetime


class CallAssistantRequested(_VoiceExchange):
    """A platform asked which assistant takes a call and with what variables
    (``switchboard.call.assistant_requested.v1``): Vapi ``assistant-request``, ElevenLabs
    conversation initiation client data."""

    event_type: ClassVar[str] = "switchboard.call.assistant_requested.v1"

    assistant_id: str | None = Field(default=None, description="The assistant answered, if any.")
    variables: dict[str, str] = Field(
        default_factory=dict, description="Variable values (Vapi) / dynamic variables (ElevenLabs)."
    )


class VoiceToolCall(BaseModel):
    """One tool call and its outcome."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="The platform's tool call id (``toolCallId``).")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    result: str | None = None
    error: str | None = None


class CallToolsCalled(_VoiceExchange):
    """A live call's assistant called tools (``switchboard.call.tools_called.v1``): Vapi
    ``tool-calls`` / ``function-call``, ElevenLabs server tools."""

    event_type: ClassVar[str] = "switchboard.call.tools_called.v1"

    calls: list[VoiceToolCall] = Field(min_length=1)


class CallTransferRequested(_VoiceExchange):
    """A live call's assistant asked where to transfer the caller
    (``switchboard.call.transfer_requested.v1``)."""

    event_type: ClassVar[str] = "switchboard.call.transfer_requested.v1"

    destination: str | None = Field(default=None, description="The number answered, if any.")


__all__ = [
    "CallAssistantRequested",
    "CallToolsCalled",
    "CallTransferRequested",
    "VoiceOutcome",
    "VoiceProvider",
    "VoiceRequest",
    "VoiceToolCall",
]
