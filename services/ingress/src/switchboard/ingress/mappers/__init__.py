"""Provider payload → typed Switchboard events. Pure: parsing and mapping, no I/O.

One module per provider; each returns the ``Outgoing`` events a webhook yields.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from pydantic import ValidationError

from switchboard.common.events import Event
from switchboard.common.topics import UNOWNED_EVENTS
from switchboard.ingress.errors import PayloadInvalid

H_TOPIC: Final = "x-switchboard-topic"
H_UNOWNED: Final = "x-switchboard-unowned"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event with the topic and key it is published under (and headers of its own)."""

    topic: str
    key: str
    event: Event
    headers: tuple[tuple[str, bytes], ...] = ()
    unowned: str = ""
    """Why no tenant owns the event's channel (empty: a tenant does)."""


@dataclass(frozen=True, slots=True)
class Owner:
    """The tenant of an event, from the channel it arrived on; ``None`` when no tenant owns
    that channel (``reason`` says why, ``channel`` names it)."""

    tenant: str | None
    reason: str = ""
    channel: str = ""


def owned(outgoing: Outgoing, owner: Owner) -> Outgoing:
    """``outgoing`` as it is when its channel has an owner; otherwise the same record on
    ``unowned.events`` (no tenant), saying where it would have gone and why it did not."""
    if owner.tenant is not None:
        return outgoing
    return Outgoing(
        UNOWNED_EVENTS,
        outgoing.key,
        outgoing.event,
        (
            (H_TOPIC, outgoing.topic.encode()),
            (H_UNOWNED, f"{owner.reason}: {owner.channel}".encode()),
        ),
        owner.reason,
    )


def first_error(exc: ValidationError) -> str:
    """The first validation problem as ``field.path: message``."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{where}: {err['msg']}"


def invalid(exc: ValidationError) -> PayloadInvalid:
    return PayloadInvalid(detail=first_error(exc))


def from_unix(seconds: float | int | str | None) -> datetime:
    """Unix seconds (or ms when implausibly large) → aware datetime; absent → now."""
    if seconds is None or seconds == "":
        return datetime.now(UTC)
    value = float(seconds)
    if value > 1e11:  # milliseconds
        value /= 1000
    return datetime.fromtimestamp(value, UTC)
