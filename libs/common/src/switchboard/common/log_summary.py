"""Per-batch work logged at DEBUG, with one INFO line per interval that sums it: a busy consumer
writes a few lines a minute at INFO instead of one per batch."""

import time
from collections import Counter
from collections.abc import Callable
from typing import Any


class PeriodicSummary:
    """``add(**counts)`` per batch; every ``interval_s`` one INFO line ``event`` with the sums,
    the number of batches and the seconds they cover (checked on ``add``: no task of its own)."""

    def __init__(
        self,
        logger: Any,
        event: str,
        interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log, self._event, self._interval_s, self._clock = logger, event, interval_s, clock
        self._since = clock()
        self._batches = 0
        self._totals: Counter[str] = Counter()

    def add(self, **counts: int) -> None:
        self._batches += 1
        self._totals.update(counts)
        now = self._clock()
        if now - self._since >= self._interval_s:
            self._log.info(
                self._event,
                batches=self._batches,
                seconds=round(now - self._since, 1),
                **dict(self._totals),
            )
            self._since, self._batches, self._totals = now, 0, Counter()
