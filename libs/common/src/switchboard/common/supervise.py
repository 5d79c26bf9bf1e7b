"""Supervised background loops: restarted with backoff, counted, and visible to ``/ready``.

A service's background loops (the ingress's spool drainer, the dial loop, recovery, the outbox
relay, the reconciler) are meant to run for the life of the process. Left as bare tasks, an
unexpected exception ends one silently while ``/ready`` keeps answering ready. Here each loop
runs under a supervisor task that logs the failure, counts it
(``switchboard_loop_restarts_total``), marks the loop down (``switchboard_loop_up`` 0, and its
readiness check false) for the backoff pause, and starts it again. A loop that returns is
restarted the same way: returning is not what a forever-loop does.

    supervisor = Supervisor("dialer")
    supervisor.add("dial", dialer.run)
    async with supervisor.running():
        ...  # serve; health_routes({..., **supervisor.checks()})
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import structlog
from prometheus_client import Counter, Gauge

log = structlog.get_logger(__name__)

INITIAL_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 30.0
HEALTHY_AFTER_S: Final = 60.0
"""A loop that ran this long before failing starts again from the initial backoff."""

LOOP_UP = Gauge(
    "switchboard_loop_up",
    "1 while a supervised background loop runs, 0 while it waits to be restarted.",
    ["service", "loop"],
)
LOOP_RESTARTS = Counter(
    "switchboard_loop_restarts_total",
    "Supervised background loops that ended (raised or returned) and were restarted.",
    ["service", "loop"],
)

LoopFn = Callable[[], Awaitable[None]]
ReadinessCheck = Callable[[], Awaitable[bool]]


@dataclass(slots=True)
class _Loop:
    name: str
    fn: LoopFn
    up: bool = False
    restarts: int = 0
    task: "asyncio.Task[None] | None" = field(default=None, repr=False)


class Supervisor:
    """Runs named loops until stopped, restarting each with exponential backoff."""

    def __init__(
        self,
        service: str,
        *,
        initial_backoff_s: float = INITIAL_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        healthy_after_s: float = HEALTHY_AFTER_S,
    ) -> None:
        self._service = service
        self._initial = initial_backoff_s
        self._max = max_backoff_s
        self._healthy_after = healthy_after_s
        self._loops: dict[str, _Loop] = {}

    def add(self, name: str, fn: LoopFn) -> None:
        """Register ``fn`` (a coroutine function meant to run forever) under ``name``."""
        if name in self._loops:
            raise ValueError(f"loop {name!r} is already supervised")
        self._loops[name] = _Loop(name, fn)
        LOOP_UP.labels(self._service, name).set(0)

    def is_up(self, name: str) -> bool:
        """True while the loop runs (false before start, in a backoff pause, after stop)."""
        return self._loops[name].up

    def restarts(self, name: str) -> int:
        """How often the loop has ended and been restarted."""
        return self._loops[name].restarts

    def checks(self) -> Mapping[str, ReadinessCheck]:
        """One readiness check per loop, named ``loop:<name>``."""

        def check_of(loop: _Loop) -> ReadinessCheck:
            async def check() -> bool:
                return loop.up

            return check

        return {f"loop:{loop.name}": check_of(loop) for loop in self._loops.values()}

    def backoff_s(self, consecutive_failures: int) -> float:
        """The pause before restart number ``consecutive_failures`` (1-based)."""
        return min(self._max, self._initial * 2.0 ** max(consecutive_failures - 1, 0))

    async def _supervise(self, loop: _Loop) -> None:
        gauge = LOOP_UP.labels(self._service, loop.name)
        restarts = LOOP_RESTARTS.labels(self._service, loop.name)
        consecutive = 0
        while True:
            started = time.monotonic()
            loop.up = True
            gauge.set(1)
            try:
                await loop.fn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure is logged and restarted
                log.exception("background loop failed; restarting", loop=loop.name)
                error: str = repr(exc)
            else:
                log.error("background loop returned; restarting", loop=loop.name)
                error = "returned"
            finally:
                loop.up = False
                gauge.set(0)
            loop.restarts += 1
            restarts.inc()
            ran_long = time.monotonic() - started >= self._healthy_after
            consecutive = 1 if ran_long else consecutive + 1
            pause = self.backoff_s(consecutive)
            log.warning("background loop down", loop=loop.name, error=error, retry_in_s=pause)
            await asyncio.sleep(pause)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["Supervisor"]:
        """Start every loop on enter; cancel them all (and wait) on exit."""
        for loop in self._loops.values():
            loop.task = asyncio.create_task(self._supervise(loop), name=f"loop:{loop.name}")
        try:
            yield self
        finally:
            tasks = [loop.task for loop in self._loops.values() if loop.task is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for loop in self._loops.values():
                loop.task = None
                loop.up = False
                LOOP_UP.labels(self._service, loop.name).set(0)
