"""``make bench-ai``: the AI worker's throughput, each figure against a ceiling measured in the
same run.

    .venv/bin/python services/ai/bench/ai_bench.py [--unowned 20000] [--messages 6000]
        [--conversations 600] [--businesses 100] [--concurrency 16] [--model sim|fake]

One AI worker process — this one: the real consumer (FastStream subscriber, per-conversation
queues, offsets committed as handled), the real reply pipeline (``open_runtime``) on the local
FerretDB, Redis and Kafka — drains a backlog produced to a topic of the run's own before it
starts (messages/s = messages ÷ time from the first handled to the last):

1. **Channels no business owns**: ``--unowned`` WhatsApp messages to one number nobody
   configured, from 1,000 customers. Baseline: a bare aiokafka consumer reading, decoding and
   committing the same records (the ceiling of consuming at all).
2. **Known businesses**: ``--messages`` messages in ``--conversations`` conversations across
   ``--businesses`` businesses (each with a rate and a spend limit, six remembered turns),
   each answered through the provider simulator's OpenAI endpoint at 0 ms latency and its
   WhatsApp send endpoint (``--model fake`` / ``--sender fake``: in-process fakes instead),
   every reply stored, counted and published to ``message.outbound``; ``--concurrency``
   messages in flight. Baseline: the same consumer making the same two HTTP calls per message
   at the same concurrency, with none of the service's state (no ledger, memory, usage, limits,
   publish): what this box and the simulator allow.
   **Overhead** per message: the time its handling took minus its own time in the model call
   and in the provider's send (measured per message); p50/p95/p99 over the run.

The CPU each process used during each phase (this worker, FerretDB, Kafka, Redis, PostgreSQL,
the simulator) and the box's load are printed and kept in the results' context. Writes
``bench/results/ai.json`` (the table in docs/benchmarks.md is rebuilt by ``make bench-ai``).

``--profile`` times every pipeline step and MongoDB command per message during phase 2 and
prints the breakdown instead (no results file).
"""

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import bench_world as world
import httpx
import profiling
import uvloop
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from redis.asyncio import Redis

from switchboard.ai.adapters.openai_client import OpenAIModel, create_openai
from switchboard.ai.adapters.senders import WhatsAppSender
from switchboard.ai.app import Overrides, open_runtime
from switchboard.ai.consumers import create_router
from switchboard.ai.models import ChatMessage
from switchboard.ai.settings import (
    AiSettings,
    ConsumerSettings,
    OpenAISettings,
    ProviderSettings,
)
from switchboard.bench import report as benchreport
from switchboard.common.config import Channel, InMemoryConfig, ModelPrice, PlanLimits, Tenant
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.errors import PermanentError
from switchboard.common.events import Event, MessageReceived, decode
from switchboard.common.kafka import DeadLetters, create_broker, ensure_topics
from switchboard.common.testing import unique
from switchboard.common.topics import dlq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes import FakeEmbedder, FakeModel, FakeSender  # the tests' fakes

TARGET_UNOWNED = 1000.0
TARGET_REPLIES = 500.0
TARGET_P95_MS = 50.0


@dataclass
class Drain:
    """Counts handled messages; the time from the first to the last."""

    expected: int
    handled: int = 0
    first: float | None = None
    last: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    overheads_ms: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, started: float, outcome: str) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first = started
        self.last = now
        self.handled += 1
        self.outcomes[outcome] += 1
        if self.handled >= self.expected:
            self.done.set()

    @property
    def rate(self) -> float:
        return self.handled / max(self.last - (self.first or self.last), 1e-9)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench_settings(args: argparse.Namespace, run: str, key: str, sim_url: str) -> AiSettings:
    """The environment's servers (``SWITCHBOARD_*``), with a database, topics, group and Redis
    prefix of the run's own, and the simulator as OpenAI and Graph."""
    base = AiSettings()
    return base.model_copy(
        update={
            "mongo": base.mongo.model_copy(update={"database": f"ai_bench_{run}"}),
            "crypto": KeyRingSettings(keys={"k1": SecretStr(key)}, current_key_id="k1"),
            "openai": OpenAISettings(
                base_url=f"{sim_url}/v1", api_key=SecretStr("sk-bench"), max_retries=0
            ),
            "providers": ProviderSettings(whatsapp_graph_base=sim_url, max_connections=200),
            "consumer": ConsumerSettings(
                topic=f"ai_bench_in_{run}",
                outbound_topic=f"ai_bench_out_{run}",
                group_id=f"ai_bench_{run}",
                concurrency=args.concurrency,
            ),
            "redis_prefix": f"switchboard:ai:bench:{run}",
        }
    )


@contextlib.asynccontextmanager
async def consuming(
    settings: AiSettings, topic: str, handle: Callable[[Event], Awaitable[object]]
) -> AsyncIterator[None]:
    """The worker's consumer (as ``create_worker`` wires it) on ``topic`` in a fresh group."""
    consumer = settings.consumer.model_copy(update={"group_id": unique("ai_bench")})
    broker = create_broker(settings.kafka)
    router, subscription = create_router(
        handle, DeadLetters(broker, consumer.group_id, topics=[topic]), consumer, topic=topic
    )
    broker.include_router(router)
    await broker.start()
    try:
        yield
    finally:
        await subscription.stop(consumer.revoke_timeout_s)
        await broker.stop()


async def drain_worker(
    handler: Callable[[Event], Awaitable[str]],
    settings: AiSettings,
    topic: str,
    expected: int,
    timeout_s: float,
) -> Drain:
    """The AI worker's handler on ``topic`` until ``expected`` messages were handled."""
    drain = Drain(expected)

    async def handle(event: Event) -> str:
        spent = world.Spent()
        world.SPENT.set(spent)
        started = time.perf_counter()
        try:
            outcome = await handler(event)
        except PermanentError as exc:
            # Dead-lettered, never handled again (a send whose outcome is unknown, e.g. the
            # simulator closed a kept-alive connection): counted, or the run waits out its
            # timeout. The outcomes in the results show it.
            drain.count(started, f"dead_lettered_{type(exc).__name__}")
            raise
        elapsed = time.perf_counter() - started
        drain.overheads_ms.append((elapsed - spent.model - spent.send) * 1000)
        drain.count(started, outcome)
        return outcome

    async with consuming(settings, topic, handle):
        await asyncio.wait_for(drain.done.wait(), timeout_s)
    return drain


async def bare_consume(settings: AiSettings, topic: str, expected: int, timeout_s: float) -> Drain:
    """Ceiling: aiokafka alone reads, decodes and commits the same records."""
    drain = Drain(expected)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        group_id=unique("ai_bench_bare"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.consumer.max_records,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout_s
        while drain.handled < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for record in records:
                    started = time.perf_counter()
                    decode(record.headers or (), record.value or b"")
                    drain.count(started, "decoded")
            if batch:
                await consumer.commit()
    finally:
        await consumer.stop()
    return drain


async def bare_replies(
    settings: AiSettings,
    topic: str,
    expected: int,
    model: Any,
    sender: Any,
    tokens_of: Callable[[str], Any],
    business_of: Callable[[str], Any],
    timeout_s: float,
) -> Drain:
    """Ceiling: the same consumer and the same two HTTP calls per message, no state."""
    drain = Drain(expected)

    async def handle(event: Event) -> str:
        msg = event.data
        assert isinstance(msg, MessageReceived)
        started = time.perf_counter()
        business = business_of(msg.business_channel_id)
        completion = await model.complete(
            business.model,
            [
                ChatMessage("system", business.system_prompt),
                ChatMessage("user", msg.text or ""),
            ],
            business.temperature,
            business.max_tokens,
        )
        await sender.send(
            business, tokens_of(business.id), msg.business_channel_id, msg.contact, completion.text
        )
        drain.count(started, "sent")
        return "sent"

    async with consuming(settings, topic, handle):
        await asyncio.wait_for(drain.done.wait(), timeout_s)
    return drain


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = unique("r").split("_")[-1]
    cipher, key = world.cipher_for_run()
    businesses = world.businesses(args.businesses, cipher, run_id)
    channels = [b.whatsapp_phone_number_ids[0] for b in businesses]
    sim = world.Simulator(channels).start()
    settings = bench_settings(args, run_id, key, sim.url)
    in_unowned, in_replies = f"ai_bench_u_{run_id}", f"ai_bench_r_{run_id}"
    topics = [in_unowned, in_replies, settings.consumer.outbound_topic]
    await ensure_topics(settings.kafka, [*topics, dlq(in_unowned), dlq(in_replies)])
    http = httpx.AsyncClient(
        timeout=10, limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
    )
    openai_client = create_openai(settings.openai)
    if args.model == "sim":
        inner_model: Any = OpenAIModel(openai_client)
    else:
        inner_model = FakeModel()
    inner_sender: Any = (
        WhatsAppSender(http, settings.providers) if args.sender == "sim" else FakeSender()
    )
    model, sender = world.TimedModel(inner_model), world.TimedSender(inner_sender)
    # The control plane's view: the bench tenant owns its businesses' numbers; the default
    # model is offered (at OpenAI's price) and the plan's daily cap is out of the way.
    config = InMemoryConfig(
        [
            ModelPrice(
                id="gpt-4o-mini",
                input_per_1k_usd=Decimal("0.00015"),
                output_per_1k_usd=Decimal("0.0006"),
            ),
            Tenant(id="bench", name="Bench", limits=PlanLimits(spend_per_day_usd=Decimal(10**6))),
            *(
                Channel(kind="whatsapp", id=c, tenant="bench", account_id="bench-app", waba_id="1")
                for c in channels
            ),
        ]
    )
    overrides = Overrides(model=model, sender=sender, embedder=FakeEmbedder(), config=config)
    meter = world.cpu_meter(sim.proc.proc.pid, args.ferretdb_pid)
    results: dict[str, Any] = {"load_before": world.box_load()}
    try:
        await world.produce(settings.kafka, in_unowned, world.unowned_traffic(run_id, args.unowned))
        replies = world.conversation_traffic(run_id, channels, args.conversations, args.messages)
        await world.produce(settings.kafka, in_replies, replies)
        broker = create_broker(settings.kafka)
        await broker.connect()
        async with open_runtime(settings, broker=broker, overrides=overrides) as rt:
            for b in businesses:
                await rt.businesses.create(b)
            for b in businesses:  # warm: the first lookups are not what is measured
                await rt.cache.by_channel(b.tenant, b.whatsapp_phone_number_ids[0])
            if args.profile:
                return await profiling.profile_replies(
                    rt,
                    lambda h: drain_worker(h, settings, in_replies, len(replies), args.timeout),
                )
            if "unowned" in args.only:
                meter.start()
                results["unowned"] = await drain_worker(
                    rt.handle, settings, in_unowned, args.unowned, args.timeout
                )
                results["unowned_cpu"] = meter.stop()
                meter.start()
                results["unowned_bare"] = await bare_consume(
                    settings, in_unowned, args.unowned, args.timeout
                )
                results["unowned_bare_cpu"] = meter.stop()
            if "replies" in args.only:
                meter.start()
                results["replies"] = await drain_worker(
                    rt.handle, settings, in_replies, len(replies), args.timeout
                )
                results["replies_cpu"] = meter.stop()
                by_channel = {b.whatsapp_phone_number_ids[0]: b for b in businesses}
                meter.start()
                results["replies_bare"] = await bare_replies(
                    settings,
                    in_replies,
                    len(replies),
                    model,
                    sender,
                    lambda bid: rt.cache.tokens(next(b for b in businesses if b.id == bid)),
                    by_channel.__getitem__,
                    args.timeout,
                )
                results["replies_bare_cpu"] = meter.stop()
        await broker.stop()
        results["load_after"] = world.box_load()
        return results
    finally:
        await http.aclose()
        await openai_client.close()
        sim.stop()
        await cleanup(settings, topics)


async def cleanup(settings: AiSettings, topics: list[str]) -> None:
    from switchboard.ai.adapters.mongo import create_client

    client = create_client(settings.mongo)
    await client.drop_database(settings.mongo.database)
    await client.close()
    redis = Redis.from_url(settings.redis.url.get_secret_value())
    keys = [k async for k in redis.scan_iter(f"{settings.redis_namespace}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([*topics, *(dlq(t) for t in topics)])
    except Exception as exc:  # noqa: BLE001 - cleanup only
        print(f"(topics not deleted: {exc!r})", file=sys.stderr)
    finally:
        await admin.close()


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    command = "python services/ai/bench/ai_bench.py " + " ".join(sys.argv[1:])
    command = command.strip()
    rows: list[benchreport.Result] = []
    context: dict[str, Any] = {
        "box load before / after": f"{r['load_before']} → {r['load_after']}",
        "setup": "one process runs the worker (FastStream subscriber, per-conversation queues, "
        "offsets committed as handled, uvloop) on the local single-node Kafka, FerretDB "
        "(scripts/infra) and Redis; the backlog is produced before the consumer starts",
    }
    if "unowned" in r:
        u, bare = r["unowned"], r["unowned_bare"]
        rows.append(
            benchreport.result(
                f"unowned-channel messages/s through one worker ({args.unowned} messages, "
                "vs aiokafka read+decode+commit)",
                u.rate,
                "msg/s",
                baseline=bare.rate,
                command=command,
                target=f">= {TARGET_UNOWNED:.0f}",
            )
        )
        context["unowned outcomes"] = dict(u.outcomes)
        context["unowned: cores used per process"] = r["unowned_cpu"]
        context["unowned baseline: cores used per process"] = r["unowned_bare_cpu"]
    if "replies" in r:
        rep, bare = r["replies"], r["replies_bare"]
        rows.append(
            benchreport.result(
                f"replies/s for known businesses, {args.concurrency} in flight (model "
                f"{args.model} at 0 ms, send {args.sender}; vs the same calls without state)",
                rep.rate,
                "msg/s",
                baseline=bare.rate,
                command=command,
                target=f">= {TARGET_REPLIES:.0f}",
            )
        )
        for p, target in ((50, ""), (95, f"< {TARGET_P95_MS:.0f} ms"), (99, "")):
            rows.append(
                benchreport.result(
                    f"per-message overhead p{p} (handling minus model and send), "
                    f"{args.concurrency} in flight",
                    percentile(rep.overheads_ms, p),
                    "ms",
                    baseline=None,
                    command=command,
                    target=target,
                )
            )
        context["replies outcomes"] = dict(rep.outcomes)
        context["replies: cores used per process"] = r["replies_cpu"]
        context["replies baseline: cores used per process"] = r["replies_bare_cpu"]
        context["replies traffic"] = (
            f"{args.messages} messages, {args.conversations} conversations, "
            f"{args.businesses} businesses"
        )
        context["replies overhead mean ms"] = round(statistics.fmean(rep.overheads_ms), 2)
    path = benchreport.write(Path(args.root), "ai", rows, context)
    print("| metric | value | unit | baseline | ratio | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row.metric} | {row.value} | {row.unit} | {row.baseline} | {row.ratio} | "
            f"{row.target} |"
        )
    for k, v in context.items():
        print(f"- {k}: {v}")
    print(f"\nwritten to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unowned", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--conversations", type=int, default=600)
    parser.add_argument("--businesses", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--model", choices=("sim", "fake"), default="sim")
    parser.add_argument("--sender", choices=("sim", "fake"), default="sim")
    parser.add_argument("--only", default="unowned,replies")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--root", default=str(world.ROOT))
    parser.add_argument("--json-out", help="Write the raw figures here instead of the report.")
    parser.add_argument("--ferretdb-pid", type=int, help="The FerretDB measured (default local).")
    args = parser.parse_args()
    if args.profile:
        profiling.install()
    results = uvloop.run(run(args))
    if args.profile:
        print("\n".join(results["breakdown"]))
        return
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(figures(results)))
        return
    report(args, results)


def figures(r: dict[str, Any]) -> dict[str, Any]:
    """The run's figures alone, for a comparison that runs this bench several times."""
    out: dict[str, Any] = {}
    if "unowned" in r:
        out |= {"unowned_rate": r["unowned"].rate, "unowned_cpu": r["unowned_cpu"]}
    if "replies" in r:
        out |= {
            "replies_rate": r["replies"].rate,
            "overhead_p95_ms": percentile(r["replies"].overheads_ms, 95),
            "replies_cpu": r["replies_cpu"],
        }
    return out


if __name__ == "__main__":
    main()
