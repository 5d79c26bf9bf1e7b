"""An inbound message in words, for the model and the conversation memory. No I/O.

Text is itself; anything else is described in brackets from what the ingress kept
(``MessageReceived.content`` / ``media``): ``[image: caption "…"]``, ``[location: …]``,
``[chose: "Book a table"]``. The model never gets an empty prompt for a non-text message.
"""

from collections.abc import Callable
from typing import Final

from switchboard.common.events import MessageContent, MessageReceived

_MAX_QUOTED: Final = 500


def _q(text: str | None) -> str:
    """``text`` quoted, on one line and bounded (it is the customer's, not ours)."""
    flat = " ".join((text or "").split())
    if len(flat) > _MAX_QUOTED:
        flat = flat[:_MAX_QUOTED] + "…"
    return '"' + flat.replace('"', "'") + '"'


def _media(kind: str, c: MessageContent) -> str:
    label = {"audio": "voice message" if c.voice else "audio", "sticker": "sticker"}.get(kind, kind)
    parts = []
    if c.filename:
        parts.append(_q(c.filename))
    if c.caption:
        parts.append(f"caption {_q(c.caption)}")
    return f"[{label}: {', '.join(parts)}]" if parts else f"[{label}]"


def _location(c: MessageContent) -> str:
    loc = c.location
    if loc is None:
        return "[location]"
    words = [w for w in (loc.name, loc.address) if w]
    if loc.latitude is not None and loc.longitude is not None:
        words.append(f"({loc.latitude}, {loc.longitude})")
    return f"[location: {_q(' '.join(words))[1:-1]}]" if words else "[location]"


def _contacts(c: MessageContent) -> str:
    cards = []
    for card in c.contacts:
        bits = [card.name or "unnamed", *card.phones[:3], *card.emails[:2]]
        cards.append(" ".join(bits))
    return f"[shared contact: {_q('; '.join(cards))[1:-1]}]" if cards else "[shared contact]"


def _choice(c: MessageContent) -> str:
    choice = c.choice
    if choice is None:
        return "[chose an option]"
    if choice.kind == "nfm_reply":
        return f"[submitted a form: {_q(choice.description or choice.title)}]"
    label = choice.title or choice.id or "an option"
    extra = f" ({_q(choice.description)[1:-1]})" if choice.description else ""
    return f"[chose: {_q(label)}{extra}]"


def _reaction(c: MessageContent) -> str:
    reaction = c.reaction
    if reaction is None or not reaction.emoji:
        return "[removed a reaction to an earlier message]"
    return f"[reacted {reaction.emoji} to an earlier message]"


def _order(c: MessageContent) -> str:
    order = c.order
    if order is None or not order.items:
        return "[order]"
    items = [
        f"{_n(i.quantity)} x {i.product_retailer_id or 'item'}"
        + (
            f" at {_n(i.item_price)} {i.currency or ''}".rstrip()
            if i.item_price is not None
            else ""
        )
        for i in order.items
    ]
    note = f"; note {_q(order.text)}" if order.text else ""
    return f"[order: {'; '.join(items)}{note}]"


def _n(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else str(value)


def _system(c: MessageContent) -> str:
    return f"[system notice: {_q(c.system)[1:-1]}]" if c.system else "[system notice]"


def _unsupported(c: MessageContent) -> str:
    return "[a message of a type WhatsApp does not pass on]"


_BY_TYPE: Final[dict[str, Callable[[MessageContent], str]]] = {
    "location": _location,
    "contacts": _contacts,
    "interactive": _choice,
    "button": _choice,
    "reaction": _reaction,
    "order": _order,
    "system": _system,
    "unsupported": _unsupported,
}
_MEDIA: Final = frozenset({"image", "audio", "video", "document", "sticker"})


def describe(msg: MessageReceived) -> str:
    """What the customer sent, in words (plain text as it is)."""
    kind = msg.message_type
    content = msg.content or MessageContent()
    if kind == "text":
        return msg.text or ""
    if kind in _MEDIA:
        return _media(kind, content)
    if kind in _BY_TYPE:
        return _BY_TYPE[kind](content)
    if msg.media:  # an MMS, or a provider's type we do not know that carries files
        kinds = ", ".join(sorted({m.content_type or "file" for m in msg.media}))
        files = f"[{len(msg.media)} attachment{'s' if len(msg.media) > 1 else ''}: {kinds}]"
        return f"{msg.text}\n{files}" if msg.text else files
    if msg.text:
        return msg.text
    return f"[{kind} message]"
