"""The records the dialer writes to its outbox: call placed / failed to place, and commands."""

from datetime import datetime
from uuid import UUID

from switchboard.common.events import (
    CallPlaced,
    CallPlaceFailed,
    DialAction,
    DialCommand,
    Event,
    encode,
    event_id,
)
from switchboard.common.telemetry import inject_headers
from switchboard.common.topics import CALL_EVENTS, DIAL_COMMANDS
from switchboard.dialer.repository import Claimed, OutboxMessage

SOURCE = "/switchboard/dialer"


def _message(topic: str, event: Event, key: str) -> OutboxMessage:
    """The record for the outbox, carrying the current trace (the dial command's or the API
    request's): the relay publishes it later, outside that span."""
    record = encode(event, key, inject_headers())
    return OutboxMessage(topic, key, record.str_headers(), record.value)


def placed(
    claim: Claimed, call_sid: str, account_sid: str, tenant: str, now: datetime
) -> OutboxMessage:
    data = CallPlaced(
        call_id=call_sid,
        account_id=account_sid,
        campaign_id=str(claim.campaign_id),
        contact_id=str(claim.contact_id),
        attempt_id=str(claim.attempt_id),
        attempt_number=claim.number,
        from_number=claim.from_number,
        to_number=claim.to_number,
        occurred_at=now,
    )
    event = Event(
        id=event_id("dialer", "placed", claim.attempt_id),
        source=SOURCE,
        data=data,
        subject=call_sid,
        tenant=tenant,
        time=now,
    )
    return _message(CALL_EVENTS, event, call_sid)


def place_failed(
    claim: Claimed, tenant: str, code: str | None, message: str, now: datetime
) -> OutboxMessage:
    data = CallPlaceFailed(
        campaign_id=str(claim.campaign_id),
        contact_id=str(claim.contact_id),
        attempt_id=str(claim.attempt_id),
        attempt_number=claim.number,
        from_number=claim.from_number,
        to_number=claim.to_number,
        error_code=code,
        error_message=message[:500],
        retryable=False,
        occurred_at=now,
    )
    event = Event(
        id=event_id("dialer", "place_failed", claim.attempt_id),
        source=SOURCE,
        data=data,
        subject=str(claim.attempt_id),
        tenant=tenant,
        time=now,
    )
    return _message(CALL_EVENTS, event, str(claim.attempt_id))


def command(
    campaign_id: UUID, tenant: str, action: DialAction, subject: str | None, now: datetime
) -> OutboxMessage:
    data = DialCommand(
        campaign_id=str(campaign_id),
        tenant_id=tenant,
        action=action,
        requested_at=now,
        requested_by=subject,
    )
    event = Event(
        id=event_id("dialer", "command", campaign_id, action, now.isoformat()),
        source=SOURCE,
        data=data,
        subject=str(campaign_id),
        tenant=tenant,
        time=now,
    )
    return _message(DIAL_COMMANDS, event, str(campaign_id))
