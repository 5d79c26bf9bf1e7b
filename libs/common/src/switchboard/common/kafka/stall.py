"""A consumer stalled by an outage: the pause before a failed batch is read again.

When a datastore (or the broker, for dead letters) is down for longer than the bounded retries,
the batch fails with a ``RetryableError``: nothing is committed, and FastStream's
``NACK_ON_ERROR`` rewinds the partitions so the same records come back at the next poll. Without
a pause that is a hot loop against a server that is down; with a fixed one, a long outage is
hammered at the same rate as a blip. So the pause doubles with each consecutive failed batch
(``initial_s`` … ``max_s``) and starts again from ``initial_s`` after a batch succeeds. Any
other exception that escapes a batch (a bug) is paused on the same way: it too would be read
again at once.

The pause happens inside the handler, before the error reaches FastStream: the consumer keeps
heartbeating meanwhile, and ``max_s`` plus the retries stays far below the consumer's
``max.poll.interval.ms`` (5 minutes), so a stall never costs a rebalance.

Metrics: ``switchboard_consumer_stalled{group}`` is 1 while the group's last batch failed on an
outage and none has succeeded since; ``switchboard_consumer_stalls_total{group}`` counts the
failed batches (each one is read again).
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Final

import structlog
from prometheus_client import Counter, Gauge

from switchboard.common.errors import RetryableError

log = structlog.get_logger(__name__)

INITIAL_PAUSE_S: Final = 1.0
MAX_PAUSE_S: Final = 30.0

STALLED = Gauge(
    "switchboard_consumer_stalled",
    "1 while a consumer's batches fail on an outage (nothing committed, read again).",
    ["group"],
)
STALLS = Counter(
    "switchboard_consumer_stalls_total",
    "Batches that failed on an outage after their retries and will be read again.",
    ["group"],
)

Sleep = Callable[[float], Awaitable[None]]


class Stall:
    """Tracks one consumer's consecutive outage failures and pauses with backoff."""

    def __init__(
        self,
        group: str,
        *,
        initial_s: float = INITIAL_PAUSE_S,
        max_s: float = MAX_PAUSE_S,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._group = group
        self._initial = initial_s
        self._max = max(max_s, initial_s)
        self._sleep = sleep
        self.consecutive = 0
        STALLED.labels(group).set(0)

    def pause_s(self, consecutive: int) -> float:
        """The pause after failed batch number ``consecutive`` (1-based) in a row."""
        return min(self._max, self._initial * 2.0 ** max(consecutive - 1, 0))

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Around the handling of one batch: a failure (a ``RetryableError`` that outlasted
        the retries, or a bug) pauses, then propagates, so the batch is not committed and is
        read again; success ends the stall."""
        try:
            yield
        except Exception as exc:
            self.consecutive += 1
            pause = self.pause_s(self.consecutive)
            STALLED.labels(self._group).set(1)
            STALLS.labels(self._group).inc()
            log.error(
                "batch failed; it will be read again",
                outage=isinstance(exc, RetryableError),
                group=self._group,
                error=str(exc)[:300],
                error_type=type(exc).__name__,
                consecutive=self.consecutive,
                retry_in_s=pause,
            )
            await self._sleep(pause)
            raise
        if self.consecutive:
            log.info("outage over; batches succeed again", group=self._group)
            self.consecutive = 0
            STALLED.labels(self._group).set(0)
