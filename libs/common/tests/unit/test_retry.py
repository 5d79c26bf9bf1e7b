import pytest
from tenacity import RetryCallState

from switchboard.common.errors import PermanentError, RetryableError
from switchboard.common.retry import RetryPolicy, backoff, call_with_retries

FAST = RetryPolicy(attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)


async def test_retryable_errors_are_retried_until_success() -> None:
    calls: list[int] = []
    retried: list[BaseException] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError("db down")
        return "ok"

    assert await call_with_retries(flaky, FAST, on_retry=retried.append) == "ok"
    assert len(calls) == 3
    assert len(retried) == 2


async def test_retries_are_bounded_and_the_last_error_is_raised() -> None:
    calls: list[int] = []

    async def down() -> None:
        calls.append(1)
        raise RetryableError(f"attempt {len(calls)}")

    with pytest.raises(RetryableError, match="attempt 3"):
        await call_with_retries(down, FAST)
    assert len(calls) == 3


async def test_permanent_errors_are_not_retried() -> None:
    calls: list[int] = []

    async def bad() -> None:
        calls.append(1)
        raise PermanentError("bad payload")

    with pytest.raises(PermanentError):
        await call_with_retries(bad, FAST)
    assert len(calls) == 1


async def test_a_lambda_returning_a_coroutine_is_awaited_and_retried() -> None:
    calls: list[int] = []

    async def flaky(n: int) -> int:
        calls.append(n)
        if len(calls) < 2:
            raise RetryableError("once")
        return n * 2

    assert await call_with_retries(lambda: flaky(21), FAST) == 42
    assert calls == [21, 21]


def test_pauses_double_from_the_first_up_to_the_cap_plus_the_jitter() -> None:
    def pause(policy: RetryPolicy, attempt: int) -> float:
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempt
        return float(backoff(policy)(state))

    exact = RetryPolicy(initial_backoff_s=0.2, max_backoff_s=1.0, jitter_s=0.0)
    assert [pause(exact, n) for n in (1, 2, 3, 4)] == [0.2, 0.4, 0.8, 1.0]
    jittered = RetryPolicy(initial_backoff_s=0.2, max_backoff_s=10.0, jitter_s=0.1)
    assert all(0.4 <= pause(jittered, 2) <= 0.5 for _ in range(50))


async def test_the_first_failure_counts_as_the_first_attempt() -> None:
    failures = [RetryableError("first"), RetryableError("second")]
    seen: list[BaseException] = []

    async def failing() -> None:
        raise failures.pop(0)

    with pytest.raises(RetryableError, match="second"):
        await call_with_retries(
            failing,
            RetryPolicy(attempts=2, initial_backoff_s=0.001, jitter_s=0.0),
            on_retry=seen.append,
        )
    assert [str(e) for e in seen] == ["first"]  # one pause, after the first attempt

    async def once() -> None:
        raise RetryableError("only")

    with pytest.raises(RetryableError, match="only"):  # one attempt: never retried
        await call_with_retries(once, RetryPolicy(attempts=1), on_retry=seen.append)
    assert len(seen) == 1
