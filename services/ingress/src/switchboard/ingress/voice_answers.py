"""The answers a voice platform expects, from the AI service's answer or from the configured
fallback. Pure. (The table of every answer and fallback is in docs/voice.md.)

- Vapi ``assistant-request``: ``{assistantId | assistant, assistantOverrides:
  {variableValues}}``; fallback: a transfer ``{destination: {type: number, number, message}}``
  or ``{error: message}`` (spoken, then the call ends); unowned: ``{assistantId:
  unowned_assistant_id}`` when one is configured, else the fallback with the unowned number and
  message.
- Vapi ``tool-calls``: ``{results: [{name, toolCallId, result | error}]}``; ``function-call``:
  ``{result}``; fallback: every call's ``result`` is the message (the assistant tells the
  caller someone will call back).
- Vapi ``transfer-destination-request``: ``{destination}`` or ``{error}``; fallback: the
  fallback number, else ``{error: message}``.
- ElevenLabs initiation: ``{type: conversation_initiation_client_data, dynamic_variables,
  conversation_config_override?}``; fallback: the standard variables empty (the caller's number
  kept) plus ``fallback_variables``.
- ElevenLabs server tool: ``{result}`` or ``{error}``; fallback: ``{result: message}``.
"""

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from switchboard.common.events import VoiceOutcome
from switchboard.common.voice import (
    STANDARD_VARIABLES,
    AssistantAnswer,
    ToolsAnswer,
    TransferAnswer,
)
from switchboard.ingress.mappers.voice_sync import SyncRequest
from switchboard.ingress.settings import VoiceSettings
from switchboard.ingress.voice_client import VoiceAnswerFailed

INITIATION_TYPE = "conversation_initiation_client_data"


@dataclass(frozen=True, slots=True)
class Shaped:
    """An answer in the platform's shape, and what it says (for the event)."""

    answer: dict[str, Any]
    outcome: VoiceOutcome
    business_id: str | None = None
    assistant_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    results: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    destination: str | None = None


def _destination(number: str, message: str | None) -> dict[str, Any]:
    destination: dict[str, Any] = {"type": "number", "number": number}
    if message:
        destination["message"] = message
    return {"destination": destination}


def answered(r: SyncRequest, ai: dict[str, Any]) -> Shaped:
    """The platform's answer from the AI service's; VoiceAnswerFailed when that answer is not
    what the contract says (or gives the platform nothing to answer)."""
    try:
        if r.request in ("assistant-request", "conversation-initiation"):
            return _assistant(r, AssistantAnswer.model_validate(ai))
        if r.request == "transfer-destination-request":
            t = TransferAnswer.model_validate(ai)
            if t.number is None:
                answer = {"error": t.message or "Nobody can take the call right now."}
            else:
                answer = _destination(t.number, t.message)
            return Shaped(answer, "answered", t.business_id, destination=t.number)
        return _tools(r, ToolsAnswer.model_validate(ai))
    except ValidationError as exc:
        raise VoiceAnswerFailed(f"the AI service's answer does not fit: {exc}") from exc


def _assistant(r: SyncRequest, a: AssistantAnswer) -> Shaped:
    if r.provider == "elevenlabs":
        answer: dict[str, Any] = {"type": INITIATION_TYPE, "dynamic_variables": a.variables}
        if a.overrides:
            answer["conversation_config_override"] = a.overrides
        return Shaped(answer, "answered", a.business_id, variables=a.variables)
    overrides = {"variableValues": a.variables}
    if a.assistant_id:
        answer = {"assistantId": a.assistant_id, "assistantOverrides": overrides}
    elif a.assistant:
        answer = {"assistant": a.assistant, "assistantOverrides": overrides}
    else:
        raise VoiceAnswerFailed(f"business {a.business_id} has no Vapi assistant")
    return Shaped(answer, "answered", a.business_id, a.assistant_id, a.variables)


def _tools(r: SyncRequest, t: ToolsAnswer) -> Shaped:
    by_id = {x.id: x for x in t.results}
    results: dict[str, tuple[str | None, str | None]] = {}
    items: list[dict[str, Any]] = []
    for call in r.calls:
        got = by_id.get(call.id)
        if got is None:
            raise VoiceAnswerFailed(f"no result for tool call {call.id}")
        results[call.id] = (got.result, got.error)
        item: dict[str, Any] = {"name": call.name, "toolCallId": call.id}
        if got.error is not None:
            item["error"] = got.error
        else:
            item["result"] = got.result or ""
        items.append(item)
    if r.provider == "elevenlabs" or r.request == "function-call":
        first = items[0]
        answer = {"error": first["error"]} if "error" in first else {"result": first["result"]}
    else:
        answer = {"results": items}
    return Shaped(answer, "answered", t.business_id, results=results)


def fallback(r: SyncRequest, s: VoiceSettings, outcome: VoiceOutcome) -> Shaped:
    """The configured safe answer: a transfer or a message that someone will call back."""
    unowned = outcome == "unowned"
    message = (s.unowned_message if unowned else None) or s.fallback_message
    number = (s.unowned_transfer_number if unowned else None) or s.fallback_transfer_number
    if r.request == "assistant-request":
        if unowned and s.unowned_assistant_id:
            answer: dict[str, Any] = {"assistantId": s.unowned_assistant_id}
            return Shaped(answer, outcome, assistant_id=s.unowned_assistant_id)
        answer = _destination(number, message) if number else {"error": message}
        return Shaped(answer, outcome, destination=number)
    if r.request == "transfer-destination-request":
        answer = _destination(number, message) if number else {"error": message}
        return Shaped(answer, outcome, destination=number)
    if r.request == "conversation-initiation":
        variables = {name: "" for name in STANDARD_VARIABLES}
        variables.update(s.fallback_variables)
        variables["caller_number"] = r.caller or ""
        answer = {"type": INITIATION_TYPE, "dynamic_variables": variables}
        return Shaped(answer, outcome, variables=variables)
    results: dict[str, tuple[str | None, str | None]] = {c.id: (message, None) for c in r.calls}
    if r.request == "tool-calls":
        items = [{"name": c.name, "toolCallId": c.id, "result": message} for c in r.calls]
        return Shaped({"results": items}, outcome, results=results)
    return Shaped({"result": message}, outcome, results=results)
