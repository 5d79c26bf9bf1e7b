"""Message records and their merge rule. No I/O.

A message is told about by its own event (``MessageReceived`` inbound, ``MessageSent``
outbound) and by delivery statuses, in any order and possibly twice. :func:`merge_message` is
commutative, associative and idempotent, so any arrival order ends in the same row: content
fields keep the first known value (only the message's own event carries them), and the status
is the one of greatest ``(rank, status, time)`` — ``queued < sending < sent < delivered < read``,
then ``failed``/``undelivered`` which are terminal — so it never moves backwards. The SQL
upsert in ``adapters/postgres.py`` applies the same rule column by column.
"""

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any

from switchboard.common.events import (
    Event,
    MessageDeliveryStatus,
    MessageReceived,
    MessageSent,
    MessageStatusChanged,
)

MESSAGE_RANK: dict[MessageDeliveryStatus, int] = {
    MessageDeliveryStatus.QUEUED: 0,
    MessageDeliveryStatus.SENDING: 1,
    MessageDeliveryStatus.SENT: 2,
    MessageDeliveryStatus.DELIVERED: 3,
    MessageDeliveryStatus.READ: 4,
    MessageDeliveryStatus.FAILED: 5,
    MessageDeliveryStatus.UNDELIVERED: 5,
}
_NEVER = datetime.min.replace(tzinfo=UTC)
_STATUS_FIELDS = ("status", "status_rank", "status_at", "error_code", "error_message")


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One message's state (the ``messages`` row without its partition key)."""

    message_id: str
    tenant_id: str
    conversation_id: str
    channel: str
    provider: str
    business_channel_id: str
    contact: str
    occurred_at: datetime
    """Earliest time any of its events tells; fixes the row's partition when first seen."""
    direction: str | None = None
    account_id: str | None = None
    contact_name: str | None = None
    message_type: str | None = None
    text: str | None = None
    media: str | None = None
    in_reply_to: str | None = None
    business_id: str | None = None
    model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    fallback: bool | None = None
    sent_at: datetime | None = None
    status: str | None = None
    status_rank: int | None = None
    status_at: datetime | None = None
    error_code: str | None = None
    error_message: str | None = None

    def status_key(self) -> tuple[int, str, datetime]:
        """Greatest wins; the SQL compares the same triple with NULLs as (-1, '', -infinity)."""
        if self.status is None or self.status_rank is None:
            return (-1, "", _NEVER)
        return (self.status_rank, self.status, self.status_at or _NEVER)


def _row(
    d: MessageReceived | MessageSent | MessageStatusChanged, tenant: str, **own: Any
) -> MessageRow:
    """What every message event says the same way, plus the event's ``own`` fields."""
    return MessageRow(
        message_id=d.message_id,
        tenant_id=tenant,
        conversation_id=d.conversation,
        channel=d.channel,
        provider=d.provider,
        business_channel_id=d.business_channel_id,
        contact=d.contact,
        **own,
    )


def to_message(event: Event, default_tenant: str) -> MessageRow | None:
    """The row an event describes; ``None`` for data that is not about a message."""
    d = event.data
    tenant = event.tenant or default_tenant
    if isinstance(d, MessageReceived):
        media = "[" + ",".join(m.model_dump_json() for m in d.media) + "]" if d.media else None
        return _row(
            d,
            tenant,
            occurred_at=d.received_at,
            direction="inbound",
            account_id=d.account_id,
            contact_name=d.contact_name,
            message_type=d.message_type,
            text=d.text,
            media=media,
            sent_at=d.received_at,
        )
    if isinstance(d, MessageSent):
        return _row(
            d,
            tenant,
            occurred_at=d.sent_at,
            direction="outbound",
            message_type="text",
            text=d.text,
            in_reply_to=d.in_reply_to,
            business_id=d.business_id,
            model=d.model,
            prompt_tokens=d.prompt_tokens,
            completion_tokens=d.completion_tokens,
            cost_usd=d.cost_usd,
            fallback=d.fallback,
            sent_at=d.sent_at,
        )
    if isinstance(d, MessageStatusChanged):
        return _row(
            d,
            tenant,
            occurred_at=d.occurred_at,
            direction="outbound",
            account_id=d.account_id,
            status=d.status.value,
            status_rank=MESSAGE_RANK[d.status],
            status_at=d.occurred_at,
            error_code=d.error_code,
            error_message=d.error_message,
        )
    return None


def merge_message(a: MessageRow, b: MessageRow) -> MessageRow:
    """Both rows' knowledge of one message; the same whichever comes first."""
    changes: dict[str, Any] = {}
    for f in fields(MessageRow):
        name = f.name
        if name in _STATUS_FIELDS or name == "occurred_at":
            continue
        va, vb = getattr(a, name), getattr(b, name)
        if va is None or vb is None:
            changes[name] = va if vb is None else vb
        else:
            changes[name] = min(va, vb)  # both know it: pick as SQL's LEAST(... COLLATE "C")
    winner = a if a.status_key() >= b.status_key() else b
    for name in _STATUS_FIELDS:
        changes[name] = getattr(winner, name)
    changes["occurred_at"] = min(a.occurred_at, b.occurred_at)
    return replace(a, **changes)
