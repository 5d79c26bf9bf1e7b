"""WhatsApp Cloud API webhook → one event per message and per status.

Every level of Meta's payload is an array and may be batched, so nothing indexes ``[0]``.
Unknown fields are allowed (Meta adds them); missing essentials are a 422.
"""

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.common.events import (
    Event,
    MessageMedia,
    MessageReceived,
    MessageStatusChanged,
    conversation_key,
    event_id,
)
from switchboard.common.topics import MESSAGE_INBOUND, MESSAGE_STATUS
from switchboard.ingress.errors import PayloadInvalid
from switchboard.ingress.events import Outgoing, from_unix, invalid

SOURCE: Final = "/switchboard/ingress/whatsapp"
_MEDIA_TYPES: Final = ("image", "audio", "video", "document", "sticker")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Metadata(_Lenient):
    display_phone_number: str | None = None
    phone_number_id: str = Field(min_length=1)


class Profile(_Lenient):
    name: str | None = None


class Contact(_Lenient):
    wa_id: str | None = None
    profile: Profile | None = None


class Message(_Lenient):
    id: str = Field(min_length=1)
    from_: str = Field(alias="from", min_length=1)
    timestamp: str | None = None
    type: str = "text"


class StatusError(_Lenient):
    code: int | str | None = None
    title: str | None = None
    message: str | None = None


class Status(_Lenient):
    id: str = Field(min_length=1)
    status: str = Field(min_length=1)
    timestamp: str | None = None
    recipient_id: str = Field(min_length=1)
    errors: list[StatusError] = Field(default_factory=list)


class Value(_Lenient):
    messaging_product: str | None = None
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)


class Change(_Lenient):
    field: str
    value: dict[str, Any]


class Entry(_Lenient):
    id: str | None = None
    changes: list[Change] = Field(default_factory=list)


class Notification(_Lenient):
    object: str
    entry: list[Entry] = Field(default_factory=list)


def _text(message: Message) -> str | None:
    extra = message.model_extra or {}
    body = extra.get(message.type)
    if not isinstance(body, dict):
        return None
    if message.type == "text":
        return str(body.get("body")) if body.get("body") is not None else None
    if message.type == "button":
        return body.get("text")
    if message.type == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return reply.get("title") if isinstance(reply, dict) else None
    if message.type in _MEDIA_TYPES:
        return body.get("caption")
    return None


def _media(message: Message) -> list[MessageMedia]:
    body = (message.model_extra or {}).get(message.type)
    if message.type not in _MEDIA_TYPES or not isinstance(body, dict):
        return []
    return [MessageMedia(media_id=body.get("id"), content_type=body.get("mime_type"))]


def _received(value: Value, message: Message, waba: str | None, tenant: str) -> Outgoing:
    names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile}
    business = value.metadata.phone_number_id
    data = MessageReceived(
        channel="whatsapp",
        provider="meta",
        message_id=message.id,
        business_channel_id=business,
        business_number=value.metadata.display_phone_number,
        account_id=waba,
        contact=message.from_,
        contact_name=names.get(message.from_),
        message_type=message.type,
        text=_text(message),
        media=_media(message),
        received_at=from_unix(message.timestamp),
        raw={"metadata": value.metadata.model_dump(), "message": message.model_dump(by_alias=True)},
    )
    event = Event(
        id=event_id("whatsapp", message.id),
        source=SOURCE,
        subject=message.id,
        tenant=tenant,
        data=data,
    )
    return Outgoing(MESSAGE_INBOUND, conversation_key(business, message.from_), event)


def _status(value: Value, status: Status, waba: str | None, tenant: str) -> Outgoing:
    business = value.metadata.phone_number_id
    error = status.errors[0] if status.errors else None
    data = MessageStatusChanged(
        channel="whatsapp",
        provider="meta",
        message_id=status.id,
        business_channel_id=business,
        account_id=waba,
        contact=status.recipient_id,
        status=status.status,  # validated: unknown → 422
        error_code=str(error.code) if error and error.code is not None else None,
        error_message=(error.title or error.message) if error else None,
        occurred_at=from_unix(status.timestamp),
        raw={"metadata": value.metadata.model_dump(), "status": status.model_dump()},
    )
    event = Event(
        id=event_id("whatsapp", status.id, status.status),
        source=SOURCE,
        subject=status.id,
        tenant=tenant,
        data=data,
    )
    return Outgoing(MESSAGE_STATUS, conversation_key(business, status.recipient_id), event)


def notification(body: Any, tenant: str) -> list[Outgoing]:
    """Every message and status of a (possibly batched) notification, in payload order."""
    try:
        parsed = Notification.model_validate(body)
        if parsed.object != "whatsapp_business_account":
            raise PayloadInvalid(
                detail=f"object: expected whatsapp_business_account, got {parsed.object!r}"
            )
        out: list[Outgoing] = []
        for entry in parsed.entry:
            for change in entry.changes:
                if change.field != "messages":
                    continue  # account/template updates: acknowledged, not ours
                value = Value.model_validate(change.value)
                out += [_received(value, m, entry.id, tenant) for m in value.messages]
                out += [_status(value, s, entry.id, tenant) for s in value.statuses]
    except ValidationError as exc:
        raise invalid(exc) from exc
    return out
