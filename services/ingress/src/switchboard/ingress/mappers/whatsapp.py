"""WhatsApp Cloud API webhook → one event per message and per status.

Every level of Meta's payload is an array and may be batched, so nothing indexes ``[0]``.

A batch that verified is Meta's, and Meta redelivers anything not answered 2xx for days, so a
signed batch is never refused for its content: unknown fields stay in each event's ``raw``,
a status value outside our ranked set is published as it is (``MessageStatusOther``), and a
part we cannot read (a message without an id, a change without metadata) is set aside as
:class:`Skipped` for the route to log and count, while the rest of the batch is published.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.common.events import (
    Event,
    MessageChoice,
    MessageContent,
    MessageDeliveryStatus,
    MessageError,
    MessageLocation,
    MessageMedia,
    MessageOrder,
    MessageReaction,
    MessageReceived,
    MessageStatusChanged,
    MessageStatusOther,
    OrderItem,
    SharedContact,
    conversation_key,
    event_id,
)
from switchboard.common.topics import MESSAGE_INBOUND, MESSAGE_STATUS
from switchboard.ingress.mappers import Outgoing, Owner, first_error, from_unix, owned

SOURCE: Final = "/switchboard/ingress/whatsapp"
MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document", "sticker"})
_KNOWN_STATUSES: Final = frozenset(s.value for s in MessageDeliveryStatus)


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
    timestamp: Any = None
    type: str = "text"


class StatusError(_Lenient):
    code: int | str | None = None
    title: str | None = None
    message: str | None = None


class Status(_Lenient):
    id: str = Field(min_length=1)
    status: str = Field(min_length=1)
    timestamp: Any = None
    recipient_id: str = Field(min_length=1)
    errors: list[StatusError] = Field(default_factory=list)


class Value(_Lenient):
    """``change.value``; its ``messages`` and ``statuses`` are read one by one."""

    messaging_product: str | None = None
    metadata: Metadata
    contacts: list[Contact] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)


class Change(_Lenient):
    field: str | None = None
    value: Any = None


class Entry(_Lenient):
    id: str | None = None
    changes: list[Any] = Field(default_factory=list)


class Notification(_Lenient):
    object: str | None = None
    entry: list[Any] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part of a signed batch that could not become an event, and why."""

    part: str
    reason: str
    payload: Any


@dataclass(slots=True)
class Parsed:
    """The events of one notification, in payload order, and the parts set aside."""

    events: list[Outgoing] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list) else str(value)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _text(kind: str, body: dict[str, Any]) -> str | None:
    """The words a message carries, for history and search: the text itself, a caption, the
    title of what was chosen."""
    if kind == "text":
        return _str(body.get("body"))
    if kind == "button":
        return _str(body.get("text"))
    if kind == "interactive":
        reply = _dict(body.get("button_reply") or body.get("list_reply"))
        return _str(reply.get("title"))
    if kind in MEDIA_TYPES:
        return _str(body.get("caption"))
    return None


def _choice(kind: str, body: dict[str, Any]) -> MessageChoice | None:
    if kind == "button":
        return MessageChoice(
            kind="button", id=_str(body.get("payload")), title=_str(body.get("text"))
        )
    sub = _str(body.get("type")) or next(
        (k for k in ("button_reply", "list_reply", "nfm_reply") if k in body), None
    )
    if sub is None:
        return None
    reply = _dict(body.get(sub))
    if sub == "nfm_reply":  # a WhatsApp Flow's answer: its name and the submitted JSON
        return MessageChoice(
            kind=sub,
            id=_str(reply.get("name")),
            title=_str(reply.get("body")),
            description=_str(reply.get("response_json")),
        )
    return MessageChoice(
        kind=sub,
        id=_str(reply.get("id")),
        title=_str(reply.get("title")),
        description=_str(reply.get("description")),
    )


def _contact_card(card: Any) -> SharedContact:
    card = _dict(card)
    name = _dict(card.get("name"))
    formatted = _str(name.get("formatted_name")) or " ".join(
        p for p in (_str(name.get("first_name")), _str(name.get("last_name"))) if p
    )
    phones = [
        _str(_dict(p).get("phone")) or _str(_dict(p).get("wa_id"))
        for p in _list(card.get("phones"))
    ]
    emails = [_str(_dict(e).get("email")) for e in _list(card.get("emails"))]
    return SharedContact(
        name=formatted or None,
        phones=[p for p in phones if p],
        emails=[e for e in emails if e],
        organization=_str(_dict(card.get("org")).get("company")),
    )


def _order(body: dict[str, Any]) -> MessageOrder:
    items = [
        OrderItem(
            product_retailer_id=_str(_dict(i).get("product_retailer_id")),
            quantity=_float(_dict(i).get("quantity")),
            item_price=_float(_dict(i).get("item_price")),
            currency=_str(_dict(i).get("currency")),
        )
        for i in _list(body.get("product_items"))
    ]
    return MessageOrder(
        catalog_id=_str(body.get("catalog_id")), text=_str(body.get("text")), items=items
    )


def _errors(raw: dict[str, Any]) -> list[MessageError]:
    out = []
    for e in _list(raw.get("errors")):
        e = _dict(e)
        details = _str(_dict(e.get("error_data")).get("details")) or _str(e.get("message"))
        out.append(
            MessageError(code=_str(e.get("code")), title=_str(e.get("title")), details=details)
        )
    return out


_CONTENT: Final[dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]]] = {
    "image": lambda b, _: {"caption": _str(b.get("caption"))},
    "video": lambda b, _: {"caption": _str(b.get("caption"))},
    "document": lambda b, _: {
        "caption": _str(b.get("caption")),
        "filename": _str(b.get("filename")),
    },
    "audio": lambda b, _: {"voice": b.get("voice") if isinstance(b.get("voice"), bool) else None},
    "sticker": lambda b, _: {
        "animated": b.get("animated") if isinstance(b.get("animated"), bool) else None
    },
    "location": lambda b, _: {
        "location": MessageLocation(
            latitude=_float(b.get("latitude")),
            longitude=_float(b.get("longitude")),
            name=_str(b.get("name")),
            address=_str(b.get("address")),
            url=_str(b.get("url")),
        )
    },
    "interactive": lambda b, _: {"choice": _choice("interactive", b)},
    "button": lambda b, _: {"choice": _choice("button", b)},
    "reaction": lambda b, _: {
        "reaction": MessageReaction(
            emoji=_str(b.get("emoji")) or None, message_id=_str(b.get("message_id"))
        )
    },
    "order": lambda b, _: {"order": _order(b)},
    "system": lambda b, _: {"system": _str(b.get("body"))},
}


def content(message: Message) -> MessageContent | None:
    """What a non-text message carries (``None`` for plain text without context or errors)."""
    raw = message.model_extra or {}
    body = _dict(raw.get(message.type))
    parts: dict[str, Any] = {}
    extract = _CONTENT.get(message.type)
    if extract is not None:
        parts.update(extract(body, raw))
    if message.type == "contacts":  # the cards are the list itself, under the type's name
        cards = raw.get("contacts")
        parts["contacts"] = [_contact_card(c) for c in cards] if isinstance(cards, list) else []
    replied_to = _str(_dict(raw.get("context")).get("id"))
    if replied_to:
        parts["replied_to"] = replied_to
    errors = _errors(raw)
    if errors:
        parts["errors"] = errors
    parts = {k: v for k, v in parts.items() if v is not None and v != []}
    if not parts and message.type == "text":
        return None
    return MessageContent(**parts)


def _media(message: Message) -> list[MessageMedia]:
    body = (message.model_extra or {}).get(message.type)
    if message.type not in MEDIA_TYPES or not isinstance(body, dict):
        return []
    return [
        MessageMedia(
            media_id=_str(body.get("id")),
            content_type=_str(body.get("mime_type")),
            url=_str(body.get("url")),
        )
    ]


def _received(value: Value, message: Message, waba: str | None, owner: Owner) -> Outgoing:
    names = {c.wa_id: c.profile.name for c in value.contacts if c.wa_id and c.profile}
    business = value.metadata.phone_number_id
    body = _dict((message.model_extra or {}).get(message.type))
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
        text=_text(message.type, body),
        media=_media(message),
        content=content(message),
        received_at=_time(message.timestamp),
        raw={"metadata": value.metadata.model_dump(), "message": message.model_dump(by_alias=True)},
    )
    event = Event(
        id=event_id("whatsapp", message.id),
        source=SOURCE,
        subject=message.id,
        tenant=owner.tenant,
        data=data,
    )
    return owned(Outgoing(MESSAGE_INBOUND, conversation_key(business, message.from_), event), owner)


def _status(value: Value, status: Status, waba: str | None, owner: Owner) -> Outgoing:
    business = value.metadata.phone_number_id
    error = status.errors[0] if status.errors else None
    common: dict[str, Any] = {
        "channel": "whatsapp",
        "provider": "meta",
        "message_id": status.id,
        "business_channel_id": business,
        "account_id": waba,
        "contact": status.recipient_id,
        "error_code": str(error.code) if error and error.code is not None else None,
        "error_message": (error.title or error.message) if error else None,
        "occurred_at": _time(status.timestamp),
        "raw": {"metadata": value.metadata.model_dump(), "status": status.model_dump()},
    }
    data: MessageStatusChanged | MessageStatusOther
    if status.status in _KNOWN_STATUSES:
        data = MessageStatusChanged(status=MessageDeliveryStatus(status.status), **common)
    else:
        data = MessageStatusOther(status=status.status, **common)
    event = Event(
        id=event_id("whatsapp", status.id, status.status),
        source=SOURCE,
        subject=status.id,
        tenant=owner.tenant,
        data=data,
    )
    return owned(
        Outgoing(MESSAGE_STATUS, conversation_key(business, status.recipient_id), event), owner
    )


def _time(timestamp: Any) -> datetime:
    """Meta's unix seconds; an unreadable one is the time of arrival (never a refusal)."""
    try:
        return from_unix(timestamp)
    except (TypeError, ValueError, OverflowError, OSError):
        return from_unix(None)


def _value(
    change: Any, waba: str | None, owner_of: Callable[[str | None, str], Owner], out: Parsed
) -> None:
    try:
        value = Value.model_validate(change.value)
    except ValidationError as exc:
        out.skipped.append(Skipped("change", first_error(exc), change.value))
        return
    owner = owner_of(waba, value.metadata.phone_number_id)
    for item in value.messages:
        try:
            out.events.append(_received(value, Message.model_validate(item), waba, owner))
        except ValidationError as exc:
            out.skipped.append(Skipped("message", first_error(exc), item))
    for item in value.statuses:
        try:
            out.events.append(_status(value, Status.model_validate(item), waba, owner))
        except ValidationError as exc:
            out.skipped.append(Skipped("status", first_error(exc), item))


def waba_ids(body: Any) -> list[str]:
    """The WABA ids (``entry[].id``) of a notification, read without validating it: they
    pick the app whose secret verifies the batch, before any HMAC is computed."""
    entries = body.get("entry") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        return []
    return [e["id"] for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)]


def notification(body: Any, owner_of: Callable[[str | None, str], Owner]) -> Parsed:
    """Every message and status of a (possibly batched) notification, in payload order;
    ``owner_of(waba_id, phone_number_id)`` gives each its tenant."""
    out = Parsed()
    try:
        parsed = Notification.model_validate(body)
    except ValidationError as exc:
        out.skipped.append(Skipped("notification", first_error(exc), body))
        return out
    if parsed.object != "whatsapp_business_account":
        out.skipped.append(Skipped("notification", f"object {parsed.object!r}", body))
        return out
    for raw_entry in parsed.entry:
        try:
            entry = Entry.model_validate(raw_entry)
        except ValidationError as exc:
            out.skipped.append(Skipped("entry", first_error(exc), raw_entry))
            continue
        for raw_change in entry.changes:
            try:
                change = Change.model_validate(raw_change)
            except ValidationError as exc:
                out.skipped.append(Skipped("change", first_error(exc), raw_change))
                continue
            if change.field != "messages":
                continue  # account/template updates: acknowledged, not ours
            _value(change, entry.id, owner_of, out)
    return out
