"""Stall: the pause before a failed batch is read again grows while failures last and starts
over after a success; the gauge says whether the consumer is stalled."""

import pytest
from prometheus_client import REGISTRY

from switchboard.common.errors import PermanentError, RetryableError
from switchboard.common.kafka import Stall
from switchboard.common.testing import unique


def stalled(group: str) -> float | None:
    return REGISTRY.get_sample_value("switchboard_consumer_stalled", {"group": group})


def stalls(group: str) -> float | None:
    return REGISTRY.get_sample_value("switchboard_consumer_stalls_total", {"group": group})


async def test_pauses_double_while_batches_fail_and_start_over_after_a_success() -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    group = unique("g")
    stall = Stall(group, initial_s=1.0, max_s=5.0, sleep=sleep)
    assert stalled(group) == 0
    for _ in range(5):
        with pytest.raises(RetryableError):
            async with stall.guard():
                raise RetryableError("mongo down")
    assert pauses == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert stalled(group) == 1
    assert stalls(group) == 5

    async with stall.guard():
        pass  # the datastore is back
    assert stalled(group) == 0
    with pytest.raises(RetryableError):
        async with stall.guard():
            raise RetryableError("down again")
    assert pauses[-1] == 1.0


async def test_any_escaping_failure_pauses_so_a_bug_is_no_hot_loop() -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    stall = Stall(unique("g"), initial_s=0.5, sleep=sleep)
    with pytest.raises(PermanentError):
        async with stall.guard():
            raise PermanentError("escaped the batch code")
    with pytest.raises(KeyError):
        async with stall.guard():
            raise KeyError("a bug")
    assert pauses == [0.5, 1.0]
