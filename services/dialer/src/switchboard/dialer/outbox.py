"""The records the dialer writes to its outbox: call placed / failed to place, and commands."""

from datetime import datetime
from typing import Any
from uuid import UUID

from switchboard.common.events import (
    CallPlaced,
    CallPlaceFailed,
    DialAction,
    DialCommand,
    Event,
    EventData,
    encode,
    event_id,
)
from switchboard.common.telemetry import inject_headers
from switchboard.common.topics import CALL_EVENTS, DIAL_COMMANDS
from switchboard.dialer.repository import Claimed, OutboxMessage

SOURCE = "/switchboard/dialer"


def _message(
    topic: str, key: str, eid: str, data: EventData, tenant: str, now: datetime
) -> OutboxMessage:
    """The event about ``key`` (its subject and Kafka key) as an outbox record, carrying the
    current trace (the dial command's or the API request's): the relay publishes it later,
    outside that span."""
    event = Event(id=eid, source=SOURCE, data=data, subject=key, tenant=tenant, time=now)
    record = encode(event, key, inject_headers())
    return OutboxMessage(topic, key, record.str_headers(), record.value)


def _attempt(claim: Claimed) -> dict[str, Any]:
    """What every attempt event says of its attempt."""
    return {
        "campaign_id": str(claim.campaign_id),
        "contact_id": str(claim.contact_id),
        "attempt_id": str(claim.attempt_id),
        "attempt_number": claim.number,
        "from_number": claim.from_number,
        "to_number": claim.to_number,
    }


def placed(
    claim: Claimed, call_sid: str, account_sid: str, tenant: str, now: datetime
) -> OutboxMessage:
    data = CallPlaced(call_id=call_sid, account_id=account_sid, occurred_at=now, **_attempt(claim))
    eid = event_id("dialer", "placed", claim.attempt_id)
    return _message(CALL_EVENTS, call_sid, eid, data, tenant, now)


def place_failed(
    claim: Claimed, tenant: str, code: str | None, message: str, now: datetime
) -> OutboxMessage:
    data = CallPlaceFailed(
        error_code=code,
        error_message=message[:500],
        retryable=False,
        occurred_at=now,
        **_attempt(claim),
    )
    eid = event_id("dialer", "place_failed", claim.attempt_id)
    return _message(CALL_EVENTS, str(claim.attempt_id), eid, data, tenant, now)


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
    eid = event_id("dialer", "command", campaign_id, action, now.isoformat())
    return _message(DIAL_COMMANDS, str(campaign_id), eid, data, tenant, now)
