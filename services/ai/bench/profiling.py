"""``ai_bench.py --profile``: where each reply's time goes — every pipeline step and every
MongoDB command, charged to the message whose task ran it (steps overlap where the pipeline
runs them concurrently; the instrumentation adds a little)."""

import asyncio
import contextvars
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo import monitoring

from switchboard.ai.app import Runtime
from switchboard.common.events import Event


@dataclass
class Trace:
    """Where one message's time went: pipeline steps and MongoDB commands, in ms."""

    total: float = 0.0
    steps: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    mongo: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    mongo_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))


CURRENT: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("trace", default=None)


class MongoTimer(monitoring.CommandListener):
    """Driver-measured duration of each command, charged to the message whose task sent it
    (a batched insert is charged to the message whose task flushed it)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        on = f" {target}" if isinstance(target, str) else ""
        self._names[event.request_id] = f"{event.command_name}{on}"

    def _charge(self, name: str, duration_us: int) -> None:
        trace = CURRENT.get()
        if trace is not None:
            trace.mongo[name] += duration_us / 1000
            trace.mongo_calls[name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._charge(self._names.pop(event.request_id, event.command_name), event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        name = self._names.pop(event.request_id, event.command_name)
        self._charge(f"{name} (failed)", event.duration_micros)


class Timed:
    """Proxy timing every coroutine method of ``target`` as step ``<label>.<method>``."""

    def __init__(self, label: str, target: Any) -> None:
        self._label = label
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not asyncio.iscoroutinefunction(attr):
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                trace = CURRENT.get()
                if trace is not None:
                    trace.steps[f"{self._label}.{name}"] += (time.perf_counter() - started) * 1000

        return timed


def install() -> None:
    """Before any client is created: time every MongoDB command."""
    monitoring.register(MongoTimer())


def instrument(pipeline: Any) -> None:
    for name in (
        "ledger",
        "conversations",
        "usage",
        "limiter",
        "retriever",
        "publisher",
        "model",
        "sender",
        "windows",
    ):
        setattr(pipeline, name, Timed(name, getattr(pipeline, name)))


def breakdown(traces: list[Trace]) -> list[str]:
    """Markdown rows: mean ms per message of each step and MongoDB command."""
    n = max(len(traces), 1)
    mean_total = sum(t.total for t in traces) / n
    steps: dict[str, float] = defaultdict(float)
    mongo: dict[str, float] = defaultdict(float)
    calls: dict[str, float] = defaultdict(float)
    for t in traces:
        for k, v in t.steps.items():
            steps[k] += v / n
        for k, v in t.mongo.items():
            mongo[k] += v / n
        for k, c in t.mongo_calls.items():
            calls[k] += c / n
    lines = ["| part | mean ms/message | share of mean total |", "| --- | --- | --- |"]
    lines.append(f"| **handling, total** | {mean_total:.2f} | 100% |")
    for k, v in sorted(steps.items(), key=lambda kv: -kv[1]):
        lines.append(f"| step {k} | {v:.2f} | {v / mean_total:.0%} |")
    for k, v in sorted(mongo.items(), key=lambda kv: -kv[1]):
        lines.append(f"| mongo {k} x{calls[k]:.2f} | {v:.2f} | {v / mean_total:.0%} |")
    lines.append(f"| mongo round trips per message | {sum(calls.values()):.2f} | |")
    return lines


def traced(handler: Callable[[Event], Awaitable[str]], traces: list[Trace]) -> Any:
    async def handle(event: Event) -> str:
        trace = Trace()
        CURRENT.set(trace)
        started = time.perf_counter()
        try:
            return await handler(event)
        finally:
            trace.total = (time.perf_counter() - started) * 1000
            traces.append(trace)

    return handle


async def profile_replies(
    rt: Runtime, drain: Callable[[Callable[[Event], Awaitable[str]]], Awaitable[Any]]
) -> dict[str, Any]:
    traces: list[Trace] = []
    instrument(rt.pipeline)
    result = await drain(traced(rt.handle, traces))
    return {
        "breakdown": [
            f"{result.handled} messages at {result.rate:.0f}/s (instrumented)",
            *breakdown(traces),
        ]
    }
