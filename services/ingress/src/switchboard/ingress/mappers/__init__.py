"""Provider payload → typed Switchboard events. Pure: parsing and mapping, no I/O.

One module per provider; each returns the ``Outgoing`` events a webhook yields.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from switchboard.common.events import Event
from switchboard.ingress.errors import PayloadInvalid


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event with the topic and key it is published under."""

    topic: str
    key: str
    event: Event


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
