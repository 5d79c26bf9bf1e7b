"""ElevenLabs post-call webhooks → call reports. Parsed leniently: fields get added."""

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.common.events import CallReport, CallStatus, Event, event_id
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.mappers import Outgoing, from_unix, invalid

SOURCE: Final = "/switchboard/ingress/elevenlabs"
PUBLISHED_TYPES: Final = frozenset({"post_call_transcription", "call_initiation_failure"})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class PhoneCall(_Lenient):
    call_sid: str | None = None
    external_number: str | None = None


class Metadata(_Lenient):
    start_time_unix_secs: int | None = None
    call_duration_secs: int | None = None
    termination_reason: str | None = None
    phone_call: PhoneCall | None = None


class Analysis(_Lenient):
    call_successful: str | None = None
    transcript_summary: str | None = None


class Turn(_Lenient):
    role: str | None = None
    message: str | None = None


class Conversation(_Lenient):
    conversation_id: str = Field(min_length=1)
    agent_id: str | None = None
    status: str | None = None
    failure_reason: str | None = None
    transcript: list[Turn] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=Metadata)
    analysis: Analysis | None = None


class Webhook(_Lenient):
    type: str = Field(min_length=1)
    event_timestamp: int | None = None
    data: dict[str, Any]


def _transcript(turns: list[Turn]) -> str | None:
    lines = [f"{t.role}: {t.message}" for t in turns if t.message]
    return "\n".join(lines) or None


def agent_id(body: Any) -> str | None:
    """The agent of a webhook, read without validating it: it names the account whose secret
    verifies it, and the tenant."""
    data = body.get("data") if isinstance(body, dict) else None
    agent = data.get("agent_id") if isinstance(data, dict) else None
    return agent if isinstance(agent, str) else None


def webhook(body: Any, tenant: str | None) -> Outgoing | None:
    """The report of a post-call webhook, or None for types that are not published (audio)."""
    try:
        hook = Webhook.model_validate(body)
        if hook.type not in PUBLISHED_TYPES:
            return None
        conv = Conversation.model_validate(hook.data)
    except ValidationError as exc:
        raise invalid(exc) from exc
    meta = conv.metadata
    failed = hook.type == "call_initiation_failure" or conv.status == "failed"
    started = from_unix(meta.start_time_unix_secs) if meta.start_time_unix_secs else None
    data = CallReport(
        provider="elevenlabs",
        call_id=conv.conversation_id,
        telephony_call_id=meta.phone_call.call_sid if meta.phone_call else None,
        agent_id=conv.agent_id,
        status=CallStatus.FAILED if failed else CallStatus.COMPLETED,
        ended_reason=conv.failure_reason or meta.termination_reason,
        started_at=started,
        duration_s=meta.call_duration_secs,
        customer_number=meta.phone_call.external_number if meta.phone_call else None,
        summary=conv.analysis.transcript_summary if conv.analysis else None,
        transcript=_transcript(conv.transcript),
        successful=(conv.analysis.call_successful == "success")
        if conv.analysis and conv.analysis.call_successful
        else None,
        occurred_at=from_unix(hook.event_timestamp),
        raw={
            "type": hook.type,
            "event_timestamp": hook.event_timestamp,
            "data": {k: v for k, v in hook.data.items() if k != "full_audio"},
        },
    )
    event = Event(
        id=event_id("elevenlabs", conv.conversation_id, hook.type),
        source=SOURCE,
        subject=conv.conversation_id,
        tenant=tenant,
        data=data,
    )
    return Outgoing(CALL_EVENTS, conv.conversation_id, event)
