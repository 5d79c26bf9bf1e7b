"""Runs a schedule against the stack: each fault at its offset, lifted after its duration,
with the wall-clock times the report needs (when it hit, when it was lifted, how long the
part took to be ready again)."""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import structlog

from switchboard.chaos.poison import Poisoner, PoisonResult
from switchboard.chaos.schedule import Fault, Kind
from switchboard.chaos.stack import Stack
from switchboard.common.localkafka import partition_leaders
from switchboard.common.settings import KafkaSettings
from switchboard.common.topics import CALL_EVENTS

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class FaultRun:
    """One fault as it happened (Unix times)."""

    fault: Fault
    offset_s: float = 0.0
    """When it hit, from the start of the traffic (later than planned when an earlier fault
    took long to lift)."""
    started: float = 0.0
    lifted: float = 0.0
    """When the fault was lifted: restart / SIGCONT / server start issued."""
    ready_s: float | None = None
    """Lifted → the part answers its readiness check again."""
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    poison: list[PoisonResult] = field(default_factory=list)


class Injector:
    def __init__(self, stack: Stack, poisoner: Poisoner) -> None:
        self._stack = stack
        self._poisoner = poisoner

    async def run(self, schedule: list[Fault], t0: float) -> list[FaultRun]:
        """Every fault of ``schedule`` at ``t0`` + its offset (Unix time), in order."""
        runs = []
        for fault in schedule:
            await asyncio.sleep(max(0.0, t0 + fault.at_s - time.time()))
            log.info("fault", fault=fault.name, at_s=round(time.time() - t0, 1))
            run = await self.inject(fault)
            run.offset_s = round(run.started - t0, 1)
            runs.append(run)
        return runs

    async def inject(self, fault: Fault) -> FaultRun:
        run = FaultRun(fault, started=time.time())
        try:
            await self._inject(fault, run)
        except Exception as exc:  # noqa: BLE001 - recorded in the report, the run goes on
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            log.error("fault failed", fault=fault.name, error=run.error)
        if not run.lifted:
            run.lifted = time.time()
        return run

    async def _inject(self, fault: Fault, run: FaultRun) -> None:
        stack, d = self._stack, fault.duration_s
        if fault.kind is Kind.KILL:
            stack.service(fault.target).kill()
            await asyncio.sleep(d)
            run.lifted = time.time()
            run.ready_s = await asyncio.to_thread(stack.restart, fault.target)
        elif fault.kind is Kind.FREEZE:
            service = stack.service(fault.target)
            service.freeze()
            await asyncio.sleep(d)
            run.lifted = time.time()
            service.thaw()
            run.ready_s = await asyncio.to_thread(service.wait_ready)
        elif fault.kind is Kind.KILL_BROKER:
            await self._kill_broker(run, d)
        elif fault.kind is Kind.KAFKA_DOWN:
            await asyncio.to_thread(stack.kill_kafka)
            await asyncio.sleep(d)
            await self._start_server("kafka", run)
        elif fault.kind is Kind.RESTART:
            await asyncio.to_thread(stack.script, fault.target, "stop")
            await asyncio.sleep(d)
            await self._start_server(fault.target, run)
        elif fault.kind is Kind.DISK_FULL:
            await self._disk_full(run, d)
        elif fault.kind is Kind.POISON:
            run.poison = await self._poisoner.run()
            run.lifted = time.time()

    async def _start_server(self, component: str, run: FaultRun, *args: str) -> None:
        run.lifted = time.time()
        await asyncio.to_thread(self._stack.script, component, "start", *args)
        run.ready_s = time.time() - run.lifted

    async def _kill_broker(self, run: FaultRun, duration_s: float) -> None:
        """The broker leading most call.events partitions: the ingress's producer must fail
        over to the new leaders without a single 503."""
        stack = self._stack
        leaders = await partition_leaders(
            KafkaSettings(bootstrap_servers=stack.ports.bootstrap), CALL_EVENTS
        )
        node = Counter(leader for leader, _ in leaders.values()).most_common(1)[0][0]
        run.detail.update(node=node, leaders={p: lead for p, (lead, _) in leaders.items()})
        run.started = time.time()
        await asyncio.to_thread(stack.kill_broker, node)
        await asyncio.sleep(duration_s)
        await self._start_server("kafka", run, str(node))

    async def _disk_full(self, run: FaultRun, duration_s: float) -> None:
        """The spool cannot grow while Kafka is away: the ingress must refuse (503, so the
        provider retries) rather than acknowledge what it cannot keep."""
        stack = self._stack
        if not stack.spool_mounted:
            run.error = "skipped: the spool tmpfs could not be mounted (mount needs root)"
            return
        try:
            run.detail["filled_bytes"] = await asyncio.to_thread(stack.fill_spool)
            await asyncio.to_thread(stack.kill_kafka)
            await asyncio.sleep(duration_s)
            await self._start_server("kafka", run)
        finally:
            stack.free_spool()
