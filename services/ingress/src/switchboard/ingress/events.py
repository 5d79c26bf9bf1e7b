"""Provider payload → typed Switchboard event. Pure: no I/O."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final

from pydantic import ValidationError

from switchboard.common.events import CallStatusChanged, Event, event_id
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.errors import PayloadInvalid
from switchboard.ingress.verify import FormParams

TWILIO_SOURCE: Final = "/switchboard/ingress/twilio"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event with the topic and key it is published under."""

    topic: str
    key: str
    event: Event


def _twilio_time(value: str | None) -> datetime:
    """Twilio's ``Timestamp`` is RFC 2822; absent or unreadable → now."""
    if value:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _int_or_none(value: str | None) -> int | str | None:
    """Keep a non-numeric value as text so validation names it, instead of dropping it."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def twilio_call_status(params: FormParams, tenant: str) -> Outgoing:
    """A Twilio voice status callback as ``switchboard.call.status.v1``."""
    call_sid = params.first("CallSid")
    status = params.first("CallStatus")
    if not call_sid or not status:
        raise PayloadInvalid("CallSid and CallStatus are required")
    sequence = params.first("SequenceNumber")
    try:
        data = CallStatusChanged.model_validate(
            {
                "provider": "twilio",
                "call_id": call_sid,
                "account_id": params.first("AccountSid"),
                "status": status,
                "direction": params.first("Direction"),
                "from_number": params.first("From"),
                "to_number": params.first("To"),
                "duration_s": _int_or_none(params.first("CallDuration")),
                "sequence_number": _int_or_none(sequence),
                "answered_by": params.first("AnsweredBy"),
                "occurred_at": _twilio_time(params.first("Timestamp")),
                "raw": {k: v[0] if len(v) == 1 else v for k, v in params.items()},
            }
        )
    except ValidationError as exc:
        raise PayloadInvalid(_first_error(exc)) from exc
    event = Event(
        id=event_id("twilio", call_sid, status, sequence or ""),
        source=TWILIO_SOURCE,
        subject=call_sid,
        tenant=tenant,
        data=data,
    )
    return Outgoing(topic=CALL_EVENTS, key=call_sid, event=event)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}"
