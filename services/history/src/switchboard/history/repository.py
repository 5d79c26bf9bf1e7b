"""What the handlers need from storage."""

from collections.abc import Sequence
from typing import Protocol

from switchboard.history.models import CallEventRecord


class CallStore(Protocol):
    """Stores call events idempotently: a known event id changes nothing."""

    async def record_call_events(self, records: Sequence[CallEventRecord]) -> int:
        """Store ``records`` in one transaction; return how many were new."""
        ...

    async def is_ready(self) -> bool: ...
