"""Twilio form payloads → call and message events."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

from pydantic import ValidationError

from switchboard.common.events import (
    CallMachineDetected,
    CallStatusChanged,
    Event,
    EventData,
    MessageMedia,
    MessageReceived,
    MessageStatusChanged,
    conversation_key,
    event_id,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS
from switchboard.ingress.errors import PayloadInvalid
from switchboard.ingress.mappers import Outgoing, invalid
from switchboard.ingress.verify import FormParams

SOURCE: Final = "/switchboard/ingress/twilio"

# Twilio's message statuses that are not ours by name.
_SMS_STATUS_ALIASES: Final = {
    "accepted": "queued",
    "scheduled": "queued",
    "canceled": "failed",
    "partially_delivered": "delivered",
}


_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _time(value: str | None) -> datetime:
    """Twilio's ``Timestamp`` is RFC 2822; absent or unreadable → now."""
    if value:
        parsed = _utc_rfc2822(value)
        if parsed is None:
            try:
                parsed = parsedate_to_datetime(value)
            except (TypeError, ValueError):
                parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _utc_rfc2822(value: str) -> datetime | None:
    """The form Twilio sends (``Mon, 23 Nov 2026 13:00:00 +0000``) without the general
    parser, which costs more than the rest of the event; anything else → None."""
    parts = value.split()
    if not value.isascii() or len(parts) != 6 or parts[5] != "+0000" or parts[2] not in _MONTHS:
        return None
    clock = parts[4].split(":")
    if len(clock) != 3 or not all(p.isdigit() for p in (parts[1], parts[3], *clock)):
        return None
    try:
        return datetime(
            int(parts[3]),
            _MONTHS[parts[2]],
            int(parts[1]),
            int(clock[0]),
            int(clock[1]),
            int(clock[2]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _int(value: str | None) -> int | str | None:
    """Keep a non-numeric value as text so validation names it, instead of dropping it."""
    if value is None or value == "":
        return None
    return int(value) if value.isdigit() else value


def _raw(params: FormParams) -> dict[str, str | list[str]]:
    return {k: v[0] if len(v) == 1 else v for k, v in params.items()}


def _require(params: FormParams, *names: str) -> list[str]:
    values = [params.first(n) or "" for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        raise PayloadInvalid(detail=f"missing field(s): {', '.join(missing)}")
    return values


def _event(
    model: type[EventData],
    fields: dict[str, Any],
    id_parts: tuple[object, ...],
    subject: str,
    tenant: str | None,
) -> Event:
    try:
        data = model.model_validate(fields)
    except ValidationError as exc:
        raise invalid(exc) from exc
    return Event(
        id=event_id("twilio", *id_parts), source=SOURCE, subject=subject, tenant=tenant, data=data
    )


def voice_status(params: FormParams, tenant: str | None) -> Outgoing:
    """A call status callback, or an async AMD callback (AnsweredBy without CallStatus)."""
    (call_sid,) = _require(params, "CallSid")
    status = params.first("CallStatus")
    answered_by = params.first("AnsweredBy")
    if not status and answered_by:
        event = _event(
            CallMachineDetected,
            {
                "provider": "twilio",
                "call_id": call_sid,
                "account_id": params.first("AccountSid"),
                "answered_by": answered_by,
                "detection_ms": _int(params.first("MachineDetectionDuration")),
                "occurred_at": _time(params.first("Timestamp")),
                "raw": _raw(params),
            },
            (call_sid, "amd", answered_by),
            call_sid,
            tenant,
        )
        return Outgoing(CALL_EVENTS, call_sid, event)
    if not status:
        raise PayloadInvalid(detail="missing field(s): CallStatus")
    sequence = params.first("SequenceNumber")
    event = _event(
        CallStatusChanged,
        {
            "provider": "twilio",
            "call_id": call_sid,
            "account_id": params.first("AccountSid"),
            "status": status,
            "direction": params.first("Direction"),
            "from_number": params.first("From"),
            "to_number": params.first("To"),
            "duration_s": _int(params.first("CallDuration")),
            "sequence_number": _int(sequence),
            "answered_by": answered_by,
            "occurred_at": _time(params.first("Timestamp")),
            "raw": _raw(params),
        },
        (call_sid, status, sequence or ""),
        call_sid,
        tenant,
    )
    return Outgoing(CALL_EVENTS, call_sid, event)


def _media(params: FormParams) -> list[MessageMedia]:
    count = _int(params.first("NumMedia")) or 0
    if not isinstance(count, int):
        raise PayloadInvalid(detail="NumMedia: not a number")
    return [
        MessageMedia(
            url=params.first(f"MediaUrl{i}"), content_type=params.first(f"MediaContentType{i}")
        )
        for i in range(min(count, 10))
    ]


def inbound_sms(params: FormParams, tenant: str | None) -> Outgoing:
    """An inbound SMS/MMS to one of the business's numbers."""
    message_sid, business, contact = _require(params, "MessageSid", "To", "From")
    event = _event(
        MessageReceived,
        {
            "channel": "sms",
            "provider": "twilio",
            "message_id": message_sid,
            "business_channel_id": business,
            "business_number": business,
            "account_id": params.first("AccountSid"),
            "contact": contact,
            "message_type": "media" if _media(params) else "text",
            "text": params.first("Body"),
            "media": _media(params),
            "received_at": datetime.now(UTC),
            "raw": _raw(params),
        },
        (message_sid, "received"),
        message_sid,
        tenant,
    )
    return Outgoing(MESSAGE_INBOUND, conversation_key(business, contact), event)


def sms_status(params: FormParams, tenant: str | None) -> Outgoing:
    """A delivery status of a message the business sent (From = the business's number)."""
    message_sid, status, business, contact = _require(
        params, "MessageSid", "MessageStatus", "From", "To"
    )
    event = _event(
        MessageStatusChanged,
        {
            "channel": "sms",
            "provider": "twilio",
            "message_id": message_sid,
            "business_channel_id": business,
            "account_id": params.first("AccountSid"),
            "contact": contact,
            "status": _SMS_STATUS_ALIASES.get(status, status),
            "error_code": params.first("ErrorCode"),
            "error_message": params.first("ErrorMessage"),
            "occurred_at": datetime.now(UTC),
            "raw": _raw(params),
        },
        (message_sid, status),
        message_sid,
        tenant,
    )
    return Outgoing(MESSAGE_STATUS, conversation_key(business, contact), event)
