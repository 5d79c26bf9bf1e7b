"""One chaos run: stack up, traffic on, the schedule's faults, traffic off, wait for the stores
to settle (and the reconciler's grace to pass), collect the evidence, judge, stack down."""

import asyncio
import json
import time
from dataclasses import asdict, dataclass

import asyncpg
import httpx
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from switchboard.bench.cpu import snapshot, spent
from switchboard.chaos.collect import collect, published
from switchboard.chaos.faults import FaultRun, Injector
from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.poison import Poisoner
from switchboard.chaos.schedule import TAIL_S, layout, schedule_for
from switchboard.chaos.stack import Stack
from switchboard.chaos.traffic import Traffic
from switchboard.chaos.verify import Report, verify
from switchboard.chaos.wiring import GROUP_TOPICS
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import partitions
from switchboard.common.topics import ALL_TOPICS

log = structlog.get_logger(__name__)
SETTLE_POLL_S = 2.0
PROGRESS_S = 15.0
STALLED_S = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    report: Report
    elapsed_s: float
    stack_dir: str
    cpu_s: dict[str, float]
    """CPU seconds each service used over the run (every life of it)."""
    traffic_cpu_s: dict[str, float]
    """CPU seconds each server and service used while the traffic flowed (the processes alive
    at its end; a restarted one counts from its restart)."""


async def run(options: ChaosOptions) -> Outcome:
    """The whole run; the stack is stopped at the end whatever happens (its data and logs stay
    under ``options.stack_dir`` until the next run)."""
    schedule = layout(schedule_for(options.schedule, options.brokers), options.duration_s)
    began = time.monotonic()
    stack = Stack(options)
    try:
        log.info("chaos: stack starting", dir=str(stack.dir))
        await asyncio.to_thread(stack.up)
        pg = f"postgresql://postgres@127.0.0.1:{stack.ports.postgres}"
        poisoner = Poisoner(
            stack.ports.bootstrap,
            f"{pg}/history",
            stack.url("ingress"),
            lambda: [stack.dialer_commands_group()],
        )
        traffic = Traffic(options, stack.ports, stack.signer)
        await traffic.start()
        cpu_before = snapshot(stack.process_roots())
        log.info("chaos: traffic started", calls=options.calls, messages=options.messages)
        progress = asyncio.create_task(_progress(stack.url("provider-sim"), traffic.started_at))
        try:
            faults = await Injector(stack, poisoner).run(schedule, traffic.started_at)
            await traffic.finish(until=faults[-1].lifted + TAIL_S if faults else 0.0)
        finally:
            progress.cancel()
        traffic_cpu = spent(cpu_before, snapshot(stack.process_roots()))
        log.info("chaos: traffic done; settling")
        settled = await settle(stack, options)
        log.info("chaos: " + settled)
        evidence = await collect(
            stack.url("provider-sim"), f"{pg}/history", f"{pg}/dialer", traffic.campaign_id
        )
        report = verify(evidence, faults, window_tail_s=options.window_tail_s)
        report.settled = settled
        if report.lost:  # whose loss: the ingress's (never on Kafka) or a consumer's
            on_kafka = await published(stack.ports.bootstrap, report.lost)
            for lost in report.lost:
                lost["on_kafka"] = lost["key"] in on_kafka
            report.lost_on_kafka = sum(1 for x in report.lost if x["on_kafka"])
        cpu = {name: round(s.cpu_s, 1) for name, s in stack.services.items()}
        _write_details(stack, report, faults, cpu)
        return Outcome(report, time.monotonic() - began, str(stack.dir), cpu, traffic_cpu)
    finally:
        await asyncio.to_thread(stack.down)


def _write_details(
    stack: Stack, report: Report, faults: list[FaultRun], cpu_s: dict[str, float]
) -> None:
    """Everything the verdict rests on, for a post-mortem: ``<stack dir>/chaos-details.json``
    (every lost event and unanswered message with the fault it fell in, each fault's times)."""
    doc = {
        "ports": json.loads(stack.ports.as_json()),
        "cpu_s": cpu_s,
        "fault_runs": [
            {
                "name": f.fault.name,
                "started": f.started,
                "lifted": f.lifted,
                "ready_s": f.ready_s,
                "error": f.error,
                "detail": f.detail,
            }
            for f in faults
        ],
        "report": asdict(report),
    }
    (stack.dir / "chaos-details.json").write_text(json.dumps(doc, indent=1, default=str) + "\n")


async def settle(stack: Stack, options: ChaosOptions) -> str:
    """Until the simulator has nothing left to send, the consumers have no lag, and either no
    call is left open in history or the reconciler has had its grace and a few rounds since
    the last webhook; or until the consumers' lag has not moved for STALLED_S (a consumer
    stuck for good), or ``settle_timeout_s``. Says which."""
    began = time.monotonic()
    deadline = began + options.settle_timeout_s
    grace = options.reconcile_grace_s + 3 * options.reconcile_interval_s
    reconciled_by = began + grace
    history = f"postgresql://postgres@127.0.0.1:{stack.ports.postgres}/history"
    last_lag, lag_since = -1, began
    while time.monotonic() < deadline:
        now = time.monotonic()
        if await _simulator_busy(stack.url("provider-sim")):
            reconciled_by = now + grace
        else:
            lag = await _lag(stack.ports.bootstrap)
            if lag != last_lag:
                last_lag, lag_since = lag, now
            reconciled = now >= reconciled_by
            if lag == 0 and (reconciled or await _open_calls(history) == 0):
                return f"settled in {now - began:.0f} s"
            if lag > 0 and reconciled and now - lag_since >= STALLED_S:
                log.warning("chaos: consumers stalled", lag=lag)
                return f"consumers stalled: lag {lag} unchanged for {STALLED_S:.0f} s"
        await asyncio.sleep(SETTLE_POLL_S)
    log.warning("chaos: settle timed out", lag=last_lag)
    return f"not settled after {options.settle_timeout_s:.0f} s (lag {last_lag})"


async def _progress(sim_url: str, started_at: float) -> None:
    """A line every PROGRESS_S: what the simulator has sent and been told so far."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=30) as sim:
        while True:
            await asyncio.sleep(PROGRESS_S)
            try:
                stats = (await sim.get("/_sim/stats")).json()
            except httpx.HTTPError as exc:
                log.warning("chaos: simulator did not answer", error=repr(exc))
                continue
            counters, latency = stats["counters"], stats["webhook_latency_ms"]
            log.info(
                "chaos: traffic",
                at_s=round(time.time() - started_at),
                calls=counters.get("twilio.scenario.created", 0),
                webhooks_sent=counters.get("webhook.sent", 0),
                acknowledged=counters.get("webhook.acknowledged", 0),
                failed=counters.get("webhook.failed", 0),
                pending=stats["pending_tasks"],
                answer_p50_ms=round(latency["p50"] or 0),
            )


async def _simulator_busy(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            return bool((await client.get(url + "/_sim/stats")).json()["pending_tasks"])
    except httpx.HTTPError:
        return True


async def _lag(bootstrap: str) -> int:
    """Records the service consumer groups have not committed yet, over the topics each reads
    (a partition a group has committed nothing on counts from its start); -1 when Kafka does
    not answer."""
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        await consumer.start()
        tps = {t: await partitions(settings, t) for t in ALL_TOPICS}
        ends = await consumer.end_offsets([tp for parts in tps.values() for tp in parts])
        lag = 0
        for group, topics in GROUP_TOPICS.items():
            committed = await admin.list_consumer_group_offsets(group)
            for tp in (tp for t in topics for tp in tps[t]):
                meta = committed.get(tp)
                lag += max(0, ends[tp] - (meta.offset if meta and meta.offset >= 0 else 0))
        return lag
    except Exception:  # noqa: BLE001 - Kafka away a moment: not settled
        return -1
    finally:
        await consumer.stop()
        await admin.close()


async def _open_calls(dsn: str) -> int:
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        return int(await conn.fetchval("SELECT count(*) FROM calls WHERE status_rank < 4"))
    finally:
        await conn.close()
