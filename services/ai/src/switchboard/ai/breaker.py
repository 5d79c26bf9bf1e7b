"""A small circuit breaker (our own: ~50 lines, async-native, injectable clock for tests).

closed ──(``failure_threshold`` consecutive failures)──▶ open ──(``reset_timeout_s``)──▶
half-open: one trial call; success closes, failure opens again.
"""

import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

from switchboard.ai.errors import ModelUnavailable

T = TypeVar("T")
Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerOpen(ModelUnavailable):
    """The breaker refused the call without trying."""


class CircuitBreaker:
    """Fails fast while a dependency is down; lets one trial through after a pause."""

    def __init__(
        self,
        failure_threshold: int,
        reset_timeout_s: float,
        *,
        clock: Clock = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self._threshold = max(failure_threshold, 1)
        self._reset_s = reset_timeout_s
        self._clock = clock
        self._on_change = on_change
        self._failures = 0
        self._opened_at = 0.0
        self._state = BreakerState.CLOSED
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._reset_s:
            return BreakerState.HALF_OPEN
        return self._state

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """``fn()`` unless open; ModelUnavailable from ``fn`` counts as a failure."""
        state = self.state
        if state is BreakerState.OPEN or (state is BreakerState.HALF_OPEN and self._trial_running):
            raise BreakerOpen("circuit breaker open")
        trial = state is BreakerState.HALF_OPEN
        if trial:
            self._trial_running = True
            self._set(BreakerState.HALF_OPEN)
        try:
            result = await fn()
        except ModelUnavailable:
            self._failure()
            raise
        finally:
            if trial:
                self._trial_running = False
        self._failures = 0
        self._set(BreakerState.CLOSED)
        return result

    def _failure(self) -> None:
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is not self._state:
            self._state = state
            if self._on_change is not None:
                self._on_change(state)
