"""Circuit breaker: closed → open → half-open → closed (injected clock)."""

import pytest

from switchboard.ai.breaker import BreakerOpen, BreakerState, CircuitBreaker
from switchboard.ai.errors import ModelUnavailable

from ..fakes import FakeClock


async def ok() -> str:
    return "ok"


async def down() -> str:
    raise ModelUnavailable("down")


async def test_opens_after_consecutive_failures_and_recovers() -> None:
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(2, 10.0, clock=clock, on_change=changes.append)
    with pytest.raises(ModelUnavailable):
        await breaker.call(down)
    assert await breaker.call(ok) == "ok"  # a success resets the count
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            await breaker.call(down)
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen):
        await breaker.call(ok)
    clock.advance(10)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(ModelUnavailable):
        await breaker.call(down)  # the trial failed: open again for a full period
    assert breaker.state is BreakerState.OPEN
    clock.advance(9)
    with pytest.raises(BreakerOpen):
        await breaker.call(ok)
    clock.advance(1)
    assert await breaker.call(ok) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    ]


async def test_other_errors_do_not_count() -> None:
    breaker = CircuitBreaker(1, 10.0, clock=FakeClock())

    async def bug() -> str:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        await breaker.call(bug)
    assert breaker.state is BreakerState.CLOSED
