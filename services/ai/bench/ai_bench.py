"""AI reply benchmark: per-message overhead (model excluded) and business-cache hit rate.

    .venv/bin/python services/ai/bench/ai_bench.py [--businesses 1000] [--messages 300]

Runs the real reply pipeline (``open_runtime``) on the local FerretDB and Redis with an
in-process zero-latency fake model (its time is measured and subtracted anyway), fake sender
and fake publisher, so what is timed is the service's own work: ledger steps, business lookup,
limits, memory, usage, prompt building. Phases: 1000 businesses created; every business looked
up once (warm-up, cold misses); ``--lookups`` random lookups from ``--concurrency`` tasks at
once; ``--messages`` random messages through the whole pipeline. The hit rate counts every
lookup after the warm-up. The baseline is the same run with the business cache effectively off
(one entry). Writes bench/results/ai.json at the repository root and prints Markdown rows.

Overhead = the time ``Runtime.handle`` took for a message minus that message's own model time
(tracked per task), with ``--concurrency`` messages in flight (a closed loop). Not included:
Kafka consume/commit and CloudEvent decoding, the provider's HTTP send and the Kafka publish
(fakes answer at once), so it is the service's store, cache and pipeline work. Nearly every
message starts a new conversation and is its business's first of the month: the cold paths.

``--profile`` instead runs the cached configuration once with every pipeline step and MongoDB
command timed per message and prints the breakdown (steps overlap where the pipeline runs them
concurrently; instrumentation adds a little). It writes no results file.
"""

import argparse
import asyncio
import base64
import contextvars
import json
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pymongo import monitoring
from redis.asyncio import Redis

from switchboard.ai.app import Overrides, open_runtime
from switchboard.ai.models import ChatMessage, Completion
from switchboard.ai.settings import AiSettings, CacheSettings
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.events import Event, MessageReceived, event_id
from switchboard.common.settings import MongoSettings
from switchboard.common.testing import unique

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes import FakeEmbedder, FakeModel, FakePublisher, FakeSender  # the tests' fakes

ROOT = Path(__file__).resolve().parents[3]
TARGET_P95_MS = 50.0
TARGET_HIT_RATE = 0.99


MODEL_SPENT: contextvars.ContextVar[list[float]] = contextvars.ContextVar("model_spent")


class TimedModel(FakeModel):
    """The zero-latency fake model, timing itself so its share can be subtracted.

    The time goes to the calling message's own accumulator (each message runs in its own task,
    so a context variable separates them): with several messages in flight, a shared counter
    would also subtract the model time of the others.
    """

    async def complete(
        self, model: str, messages: Sequence[ChatMessage], temperature: float, max_tokens: int
    ) -> Completion:
        started = time.perf_counter()
        try:
            return await super().complete(model, messages, temperature, max_tokens)
        finally:
            MODEL_SPENT.get().append(time.perf_counter() - started)
            self.prompts.clear()  # keep memory flat


@dataclass
class Trace:
    """Where one message's time went: pipeline steps and MongoDB commands, in ms."""

    steps: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    mongo: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    mongo_calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))


CURRENT: contextvars.ContextVar[Trace | None] = contextvars.ContextVar("trace", default=None)


class MongoTimer(monitoring.CommandListener):
    """Driver-measured duration of each command, charged to the message whose task sent it."""

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


class PoolCounter(monitoring.ConnectionPoolListener):
    """Connections the driver opened (a new one costs a TCP + handshake round trip or more)."""

    created = 0

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        PoolCounter.created += 1

    def pool_created(self, event: Any) -> None: ...
    def pool_ready(self, event: Any) -> None: ...
    def pool_cleared(self, event: Any) -> None: ...
    def pool_closed(self, event: Any) -> None: ...
    def connection_ready(self, event: Any) -> None: ...
    def connection_closed(self, event: Any) -> None: ...
    def connection_check_out_started(self, event: Any) -> None: ...
    def connection_check_out_failed(self, event: Any) -> None: ...
    def connection_checked_out(self, event: Any) -> None: ...
    def connection_checked_in(self, event: Any) -> None: ...


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


def instrument(pipeline: Any) -> None:
    """Wrap the pipeline's stores so each message's trace shows where the time went."""
    for name in ("ledger", "conversations", "usage", "limiter", "retriever", "publisher"):
        setattr(pipeline, name, Timed(name, getattr(pipeline, name)))


def breakdown(traces: list[Trace], totals: list[float]) -> list[str]:
    """Markdown rows: mean ms per message of each step and MongoDB command."""
    n = len(traces)
    lines = ["| part | mean ms/message | share of mean total |", "| --- | --- | --- |"]
    mean_total = sum(totals) / n
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
    lines.append(f"| **total (model excluded)** | {mean_total:.2f} | 100% |")
    for k, v in sorted(steps.items(), key=lambda kv: -kv[1]):
        lines.append(f"| step {k} | {v:.2f} | {v / mean_total:.0%} |")
    rest = mean_total - sum(steps.values())
    lines.append(
        f"| rest (handler code, cache, event loop) | {rest:.2f} | {rest / mean_total:.0%} |"
    )
    for k, v in sorted(mongo.items(), key=lambda kv: -kv[1]):
        lines.append(f"| mongo {k} x{calls[k]:.1f} | {v:.2f} | {v / mean_total:.0%} |")
    total_calls = sum(calls.values())
    lines.append(f"| mongo round trips per message | {total_calls:.1f} | |")
    return lines


def event(n: int, channel: str, contact: str) -> Event:
    data = MessageReceived(
        channel="whatsapp",
        provider="meta",
        message_id=f"wamid.bench{n}",
        business_channel_id=channel,
        contact=contact,
        text=f"Hello, question number {n}: when do you open?",
        received_at=datetime.now(UTC),
    )
    return Event(id=event_id("bench", n), source="/bench", data=data, tenant="bench")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(
    businesses: int,
    messages: int,
    lookups: int,
    concurrency: int,
    cache_entries: int,
    seed: int,
    profile: bool = False,
) -> dict[str, Any]:
    key = base64.b64encode(os.urandom(32)).decode()
    settings = AiSettings(
        mongo=MongoSettings(database=unique("ai_bench")),
        crypto=KeyRingSettings(keys={"k1": SecretStr(key)}, current_key_id="k1"),
        cache=CacheSettings(max_entries=cache_entries),
    )
    model, sender, publisher = TimedModel(), FakeSender(), FakePublisher()
    overrides = Overrides(model=model, embedder=FakeEmbedder(), sender=sender, publisher=publisher)
    rng = random.Random(seed)
    async with open_runtime(settings, overrides=overrides) as rt:
        try:
            from switchboard.ai.cache import token_context
            from switchboard.ai.models import Business
            from switchboard.common.crypto import Cipher

            cipher = Cipher(settings.crypto.keys, "k1")
            channels = [f"bench-wa-{i}" for i in range(businesses)]
            for i, channel in enumerate(channels):
                bid = f"bench-{i}"
                await rt.businesses.create(
                    Business(
                        id=bid,
                        tenant="bench",
                        name=f"Business {i}",
                        whatsapp_phone_number_ids=(channel,),
                        memory_messages=6,
                        rate_limit_per_minute=1_000_000,
                        monthly_spend_limit_usd=1_000_000.0,
                        whatsapp_token=cipher.seal("t", token_context(bid, "whatsapp")),
                    )
                )
            slots = asyncio.Semaphore(concurrency)
            overheads: list[float] = []
            traces: list[Trace] = []
            if profile:
                instrument(rt.pipeline)

            async def one(n: int, channel: str) -> None:
                async with slots:
                    if profile:
                        traces.append(Trace())
                        CURRENT.set(traces[-1])
                    spent: list[float] = []
                    MODEL_SPENT.set(spent)
                    started = time.perf_counter()
                    outcome = await rt.handle(event(n, channel, f"c{n % 97}-{channel}"))
                    elapsed = time.perf_counter() - started
                    assert outcome == "replied", outcome
                    assert len(spent) == 1, spent  # the model was asked exactly once
                    # This message's own model time (zero latency, but measured anyway).
                    overheads.append((elapsed - sum(spent)) * 1000)

            async def lookup(channel: str) -> None:
                async with slots:
                    assert await rt.cache.by_channel(channel) is not None

            # Warm-up: every business looked up once (cold misses), not measured.
            await asyncio.gather(*(lookup(c) for c in channels))
            hits0, misses0 = rt.cache.hits, rt.cache.misses
            # Cache under load: lookups from many tasks at once, random businesses.
            await asyncio.gather(*(lookup(rng.choice(channels)) for _ in range(lookups)))
            # Per-message overhead: the whole pipeline, random businesses.
            connections_before = PoolCounter.created
            started = time.perf_counter()
            order = [rng.choice(channels) for _ in range(messages)]
            await asyncio.gather(*(one(i, c) for i, c in enumerate(order)))
            wall = time.perf_counter() - started
            hits, misses = rt.cache.hits - hits0, rt.cache.misses - misses0
            return {
                "p50_ms": statistics.median(overheads),
                "p95_ms": percentile(overheads, 95),
                "p99_ms": percentile(overheads, 99),
                "hit_rate": hits / max(hits + misses, 1),  # after warm-up, lookups + messages
                "throughput": messages / wall,
                "sent": len(sender.sent),
                "breakdown": breakdown(traces, overheads) if profile else [],
                "connections_opened": PoolCounter.created - connections_before,
                "p95_first_tenth_ms": percentile(overheads[: messages // 10], 95),
                "p95_rest_ms": percentile(overheads[messages // 10 :], 95),
            }
        finally:
            await rt.db.client.drop_database(settings.mongo.database)
            redis = Redis.from_url(settings.redis.url.get_secret_value())
            keys = [k async for k in redis.scan_iter(f"{settings.redis_namespace}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--businesses", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="time each step and MongoDB command per message (cached run only, no results file)",
    )
    args = parser.parse_args()
    common = (args.businesses, args.messages, args.lookups, args.concurrency)
    if args.profile:
        monitoring.register(MongoTimer())
        monitoring.register(PoolCounter())
        profiled = asyncio.run(run(*common, 1000, args.seed, profile=True))
        print(
            f"{args.concurrency} in flight: p50 {profiled['p50_ms']:.1f} ms, p95 "
            f"{profiled['p95_ms']:.1f} ms (instrumented)"
        )
        print(
            f"connections opened while measuring: {profiled['connections_opened']}; p95 of the "
            f"first tenth {profiled['p95_first_tenth_ms']:.1f} ms, of the rest "
            f"{profiled['p95_rest_ms']:.1f} ms"
        )
        print("\n".join(profiled["breakdown"]))
        return
    cached = asyncio.run(run(*common, 1000, args.seed))
    uncached = asyncio.run(run(*common, 1, args.seed))
    command = "python services/ai/bench/ai_bench.py " + " ".join(sys.argv[1:])
    date = datetime.now(UTC).isoformat(timespec="seconds")

    def row(metric: str, value: float, unit: str, baseline: float) -> dict[str, Any]:
        return {
            "metric": metric,
            "value": round(value, 4),
            "unit": unit,
            "baseline": round(baseline, 4),
            "ratio": round(value / baseline, 4) if baseline else None,
            "command": command.strip(),
            "date": date,
        }

    results = [
        row(
            "ai per-message overhead p95 (model excluded)",
            cached["p95_ms"],
            "ms",
            uncached["p95_ms"],
        ),
        row(
            "ai per-message overhead p50 (model excluded)",
            cached["p50_ms"],
            "ms",
            uncached["p50_ms"],
        ),
        row(
            f"ai business cache hit rate, {args.businesses} businesses",
            cached["hit_rate"],
            "ratio",
            uncached["hit_rate"],
        ),
        row(
            "ai replies per second (one process)",
            cached["throughput"],
            "msg/s",
            uncached["throughput"],
        ),
    ]
    out = ROOT / "bench" / "results" / "ai.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| metric | value | unit | baseline (cache off) | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['metric']} | {r['value']} | {r['unit']} | {r['baseline']} | {r['ratio']} |")
    ok = cached["p95_ms"] < TARGET_P95_MS and cached["hit_rate"] >= TARGET_HIT_RATE
    print(
        f"\ntargets: p95 < {TARGET_P95_MS} ms, hit rate >= {TARGET_HIT_RATE}: "
        f"{'met' if ok else 'NOT met'} (p99 {cached['p99_ms']:.1f} ms, "
        f"{args.concurrency} in flight, in-process zero-latency fake model)"
    )


if __name__ == "__main__":
    main()
