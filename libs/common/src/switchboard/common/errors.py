"""One error tree for every service.

    SwitchboardError
     ├── RetryableError   a later attempt may succeed (broker down, timeout, 5xx upstream)
     │    └── PublishError       the broker did not acknowledge in time
     └── PermanentError   retrying cannot help (bad payload, unknown type); dead-letter it
          ├── InvalidEventError  not a Switchboard CloudEvent
          └── RecordRefused      the producer or broker refuses this record for what it is

Adapters translate driver errors into these with ``raise ... from exc`` so callers
catch our errors only: ``with translated("storing calls", TABLE):`` (or ``async with``), where a
service's ``TABLE`` says which driver errors become which of its own.
"""

from collections.abc import Sequence
from types import TracebackType
from typing import TypeAlias


class SwitchboardError(Exception):
    """Root of every error Switchboard raises on purpose."""


class RetryableError(SwitchboardError):
    """A later attempt may succeed."""


class PermanentError(SwitchboardError):
    """Retrying cannot help."""


class InvalidEventError(PermanentError):
    """A Kafka message is not a valid Switchboard CloudEvent."""


class PublishError(RetryableError):
    """The broker did not acknowledge a message in time."""


class RecordRefused(PermanentError):
    """The producer or the broker refuses this record for what it is (over the size limit,
    corrupt, an invalid topic): sending it again cannot succeed."""


ErrorTable: TypeAlias = Sequence[
    tuple[type[BaseException] | tuple[type[BaseException], ...], type[SwitchboardError] | None]
]
"""(driver errors, our error) rows, tried in order; ``None`` lets a driver error through as it
is (one the caller handles itself, e.g. a duplicate key)."""


class translated:  # lower case: it reads as a function, ``with translated(...)``
    """Within the block, a driver error that matches a row of ``table`` is raised as that
    row's error (``from`` it, its message ``"<what>: <driver error>"``); any other exception
    passes unchanged. A plain class, so ``with`` and ``async with`` both work and entering
    costs no generator."""

    __slots__ = ("_table", "_what")

    def __init__(self, what: str, table: ErrorTable) -> None:
        self._what = what
        self._table = table

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        for drivers, ours in self._table:
            if isinstance(exc, drivers):
                if ours is not None:
                    raise ours(f"{self._what}: {exc!r}") from exc
                return

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
