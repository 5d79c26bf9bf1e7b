"""Supervised loops: restarted after a failure or a return, reported down meanwhile."""

import asyncio

import pytest

from switchboard.common.supervise import LOOP_RESTARTS, LOOP_UP, Supervisor


async def wait_for(condition, timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polling a plain predicate
            await asyncio.sleep(0.005)


def metric(m, *labels: str) -> float:
    return m.labels(*labels)._value.get()


async def test_a_failing_loop_is_restarted_and_counted() -> None:
    runs = 0
    gate = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs < 3:
            raise RuntimeError("boom")
        await gate.wait()  # the third run stays up

    sup = Supervisor("svc-a", initial_backoff_s=0.01)
    sup.add("flaky", flaky)
    before = metric(LOOP_RESTARTS, "svc-a", "flaky")
    async with sup.running():
        await wait_for(lambda: runs == 3 and sup.is_up("flaky"))
        assert sup.restarts("flaky") == 2
        assert metric(LOOP_RESTARTS, "svc-a", "flaky") - before == 2
        assert metric(LOOP_UP, "svc-a", "flaky") == 1
        assert [await c() for c in sup.checks().values()] == [True]
    assert not sup.is_up("flaky")
    assert metric(LOOP_UP, "svc-a", "flaky") == 0


async def test_ready_check_is_false_while_the_loop_waits_to_restart() -> None:
    async def dies() -> None:
        raise RuntimeError("down")

    sup = Supervisor("svc-b", initial_backoff_s=30.0)
    sup.add("dies", dies)
    async with sup.running():
        await wait_for(lambda: sup.restarts("dies") == 1)
        check = sup.checks()["loop:dies"]
        assert await check() is False
        assert metric(LOOP_UP, "svc-b", "dies") == 0


async def test_a_loop_that_returns_is_restarted_too() -> None:
    runs = 0

    async def returns() -> None:
        nonlocal runs
        runs += 1

    sup = Supervisor("svc-c", initial_backoff_s=0.001)
    sup.add("returns", returns)
    async with sup.running():
        await wait_for(lambda: runs >= 3)


async def test_stopping_cancels_a_running_loop() -> None:
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    sup = Supervisor("svc-d")
    sup.add("forever", forever)
    async with sup.running():
        await wait_for(lambda: sup.is_up("forever"))
    assert cancelled.is_set()
    assert sup.restarts("forever") == 0


def test_backoff_doubles_up_to_the_cap() -> None:
    sup = Supervisor("svc-e", initial_backoff_s=0.5, max_backoff_s=4.0)
    assert [sup.backoff_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_a_name_is_supervised_once() -> None:
    sup = Supervisor("svc-f")

    async def noop() -> None:
        return None

    sup.add("x", noop)
    with pytest.raises(ValueError, match="already supervised"):
        sup.add("x", noop)
