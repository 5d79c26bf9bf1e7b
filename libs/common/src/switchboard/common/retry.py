"""Bounded retries with exponential backoff and jitter (tenacity), in one place: a consumer's
retries before it gives a batch up (``kafka.dlq``, ``kafka.batch``) and a service's own writes
that must not be lost to a short outage go through :func:`call_with_retries` with a named
:class:`RetryPolicy`. Only ``RetryableError`` is retried; the last error is re-raised."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from switchboard.common.errors import RetryableError

T = TypeVar("T")


class RetryPolicy(BaseModel):
    """How often and how patiently to retry a retryable failure: a consumer before it gives
    the batch up (to be read again after a pause; never dead-lettered for an outage), a worker
    before it leaves a write to recovery. The n-th pause is ``initial_backoff_s * 2**(n-1)``
    plus up to ``jitter_s``, at most ``max_backoff_s``."""

    attempts: int = 3
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 10.0
    jitter_s: float = 1.0
    """Random extra per pause, so replicas that failed together do not retry together."""


def backoff(policy: RetryPolicy) -> wait_exponential_jitter:
    """The pauses of ``policy`` as tenacity waits them."""
    return wait_exponential_jitter(
        multiplier=policy.initial_backoff_s, max=policy.max_backoff_s, jitter=policy.jitter_s
    )


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """``fn()``, retried on RetryableError with backoff; the last error is re-raised.

    The first attempt runs without tenacity: its per-call set-up (a retrying object, and an
    ``inspect`` of each of its callbacks per attempt) costs ~100x an awaited call, and this
    runs per batch, per message, per recorded call. Only a first failure starts tenacity, with
    that attempt counted, so the pauses and attempts are exactly the policy's."""
    try:
        return await fn()
    except RetryableError as exc:
        first_failure: RetryableError | None = exc

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            exc = state.outcome.exception()
            if exc is not None:
                on_retry(exc)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=backoff(policy),
        retry=retry_if_exception_type(RetryableError),
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:
        # tenacity awaits only coroutine *functions*: a lambda returning a coroutine would be
        # called and its coroutine dropped, so every callable is wrapped in one.
        nonlocal first_failure
        if first_failure is not None:  # tenacity's first attempt is the one made above
            failure, first_failure = first_failure, None
            raise failure
        return await fn()

    return await retrying(attempt)
