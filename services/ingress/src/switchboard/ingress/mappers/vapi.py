"""Vapi server messages → call events. Only status updates and end-of-call reports are
published; every other message type is acknowledged and dropped."""

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.common.events import CallReport, CallStatus, CallStatusChanged, Event, event_id
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.errors import PayloadInvalid
from switchboard.ingress.mappers import Outgoing, from_unix, invalid

SOURCE: Final = "/switchboard/ingress/vapi"
PUBLISHED_TYPES: Final = frozenset({"status-update", "end-of-call-report"})

_STATUS: Final = {
    "scheduled": CallStatus.QUEUED,
    "queued": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "forwarding": CallStatus.IN_PROGRESS,
    "ended": CallStatus.COMPLETED,
}
# endedReason values that mean the call never connected.
_FAILED_PREFIXES: Final = ("call.start.error", "pipeline-error", "twilio-failed", "vonage-failed")
_NO_ANSWER: Final = frozenset({"customer-did-not-answer", "voicemail"})
_BUSY: Final = frozenset({"customer-busy"})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Customer(_Lenient):
    number: str | None = None


class Call(_Lenient):
    id: str = Field(min_length=1)
    phoneCallProviderId: str | None = None
    customer: Customer | None = None
    assistantId: str | None = None


class Artifact(_Lenient):
    transcript: str | None = None
    recordingUrl: str | None = None


class Analysis(_Lenient):
    summary: str | None = None
    successEvaluation: Any = None


class ServerMessage(_Lenient):
    type: str = Field(min_length=1)
    call: Call | None = None
    status: str | None = None
    endedReason: str | None = None
    timestamp: float | None = None
    startedAt: datetime | None = None
    endedAt: datetime | None = None
    cost: float | None = None
    artifact: Artifact | None = None
    analysis: Analysis | None = None
    customer: Customer | None = None


class Envelope(_Lenient):
    message: ServerMessage


def _final_status(reason: str | None) -> CallStatus:
    if not reason:
        return CallStatus.COMPLETED
    if reason in _NO_ANSWER:
        return CallStatus.NO_ANSWER
    if reason in _BUSY:
        return CallStatus.BUSY
    if reason.startswith(_FAILED_PREFIXES):
        return CallStatus.FAILED
    return CallStatus.COMPLETED


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def channel_ids(body: Any) -> tuple[str | None, str | None]:
    """(Vapi phone number id, assistant id) of a server message, read without validating it:
    they name the account whose secret verifies it, and the tenant."""
    message = _object(_object(body).get("message"))
    call = _object(message.get("call"))
    phone = call.get("phoneNumberId") or _object(message.get("phoneNumber")).get("id")
    assistant = call.get("assistantId") or _object(message.get("assistant")).get("id")
    return (
        phone if isinstance(phone, str) else None,
        assistant if isinstance(assistant, str) else None,
    )


def server_message(body: Any, tenant: str | None) -> Outgoing | None:
    """The event of a Vapi server message, or None for types that are not published."""
    try:
        msg = Envelope.model_validate(body).message
        if msg.type not in PUBLISHED_TYPES:
            return None
        if msg.call is None:
            raise PayloadInvalid(detail="message.call: Field required")
        call = msg.call
        occurred = from_unix(msg.timestamp)
        raw = body if isinstance(body, dict) else {}
        data: CallStatusChanged | CallReport
        if msg.type == "status-update":
            status = _STATUS.get(msg.status or "")
            if status is None:
                raise PayloadInvalid(detail=f"message.status: expected one of {', '.join(_STATUS)}")
            if status is CallStatus.COMPLETED:
                status = _final_status(msg.endedReason)
            data = CallStatusChanged(
                provider="vapi", call_id=call.id, status=status, occurred_at=occurred, raw={}
            )
            ids: tuple[object, ...] = (call.id, msg.type, msg.status)
        else:
            customer = msg.customer or call.customer
            duration = (
                int((msg.endedAt - msg.startedAt).total_seconds())
                if msg.startedAt and msg.endedAt
                else None
            )
            data = CallReport(
                provider="vapi",
                call_id=call.id,
                telephony_call_id=call.phoneCallProviderId,
                agent_id=call.assistantId,
                status=_final_status(msg.endedReason),
                ended_reason=msg.endedReason,
                started_at=msg.startedAt,
                ended_at=msg.endedAt,
                duration_s=max(duration, 0) if duration is not None else None,
                cost=msg.cost,
                customer_number=customer.number if customer else None,
                summary=msg.analysis.summary if msg.analysis else None,
                transcript=msg.artifact.transcript if msg.artifact else None,
                recording_url=msg.artifact.recordingUrl if msg.artifact else None,
                occurred_at=occurred,
                raw=raw,
            )
            ids = (call.id, msg.type)
    except ValidationError as exc:
        raise invalid(exc) from exc
    event = Event(
        id=event_id("vapi", *ids), source=SOURCE, subject=call.id, tenant=tenant, data=data
    )
    return Outgoing(CALL_EVENTS, call.id, event)
