"""Twilio's per-account limits and what a client actually did against them. No I/O.

- **CPS**: calls are started at most ``cps`` per second; faster creations wait in a queue
  (``queue_time``), and a creation that finds the queue full fails with 22005.
- **Concurrency**: active calls (queued or live, not ended) above ``max_concurrent_calls`` → 10004.
- **API concurrency**: in-flight REST requests above ``max_concurrent_requests`` → 429 / 20429.

Every breach is counted, and the highest observed rates are kept, so a test can check a
client's pacing against what it promised.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from switchboard.providersim.settings import TwilioAccountConfig

WINDOW_S = 1.0


class TwilioError(Exception):
    """A Twilio REST error: the body Twilio sends, and its HTTP status."""

    def __init__(self, code: int, message: str, status: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def queue_full() -> TwilioError:
    return TwilioError(22005, "Outbound call queue is full for this account", 429)


def concurrency_exceeded(limit: int) -> TwilioError:
    return TwilioError(10004, f"Call concurrency limit of {limit} exceeded", 429)


def too_many_requests() -> TwilioError:
    return TwilioError(20429, "Too Many Requests", 429)


def authenticate() -> TwilioError:
    return TwilioError(20003, "Authenticate", 401)


@dataclass(slots=True)
class AccountLimiter:
    """Limits and observations of one account; ``now`` is a monotonic clock in seconds."""

    config: TwilioAccountConfig
    active_calls: int = 0
    inflight_requests: int = 0
    max_observed_cps: int = 0
    max_observed_active_calls: int = 0
    max_observed_requests: int = 0
    cps_breaches: int = 0
    queue_overflows: int = 0
    concurrency_breaches: int = 0
    request_breaches: int = 0
    _next_slot: float = 0.0
    _scheduled: deque[float] = field(default_factory=deque)
    _created: deque[float] = field(default_factory=deque)

    def admit_call(self, now: float) -> float:
        """Admit a new call: its delay before starting (s), or a :class:`TwilioError`."""
        self._created.append(now)
        while self._created and self._created[0] <= now - WINDOW_S:
            self._created.popleft()
        rate = len(self._created)
        self.max_observed_cps = max(self.max_observed_cps, rate)
        if rate > self.config.cps:
            self.cps_breaches += 1
        if self.active_calls >= self.config.max_concurrent_calls:
            self.concurrency_breaches += 1
            raise concurrency_exceeded(self.config.max_concurrent_calls)
        while self._scheduled and self._scheduled[0] <= now:
            self._scheduled.popleft()
        start = max(now, self._next_slot)
        if start > now and len(self._scheduled) >= self.config.queue_size:
            self.queue_overflows += 1
            raise queue_full()
        self._next_slot = start + 1.0 / self.config.cps
        if start > now:
            self._scheduled.append(start)
        self.active_calls += 1
        self.max_observed_active_calls = max(self.max_observed_active_calls, self.active_calls)
        return start - now

    def call_ended(self) -> None:
        self.active_calls = max(0, self.active_calls - 1)

    def begin_request(self) -> None:
        """Count a REST request in; :class:`TwilioError` 20429 when too many are in flight."""
        if self.inflight_requests >= self.config.max_concurrent_requests:
            self.request_breaches += 1
            raise too_many_requests()
        self.inflight_requests += 1
        self.max_observed_requests = max(self.max_observed_requests, self.inflight_requests)

    def end_request(self) -> None:
        self.inflight_requests = max(0, self.inflight_requests - 1)

    def report(self) -> dict[str, Any]:
        """What the inspection API shows for this account."""
        return {
            "limits": self.config.model_dump(exclude={"auth_token"}),
            "active_calls": self.active_calls,
            "queued_calls": len(self._scheduled),
            "max_observed_cps": self.max_observed_cps,
            "max_observed_active_calls": self.max_observed_active_calls,
            "max_observed_concurrent_requests": self.max_observed_requests,
            "breaches": {
                "cps": self.cps_breaches,
                "queue_full": self.queue_overflows,
                "concurrency": self.concurrency_breaches,
                "requests": self.request_breaches,
            },
        }
