"""The poll loop: measure lag and replication, keep the result, count the outcome, wait, again."""

import asyncio
from collections.abc import Sequence

import structlog
from prometheus_client import CollectorRegistry, Counter

from switchboard.lagexporter.collector import Measurement
from switchboard.lagexporter.offsets import OffsetSource, OffsetsUnavailable, measure

log = structlog.get_logger(__name__)


class Poller:
    def __init__(
        self,
        source: OffsetSource,
        groups: Sequence[str],
        measurement: Measurement,
        interval_s: float,
        registry: CollectorRegistry,
    ) -> None:
        self._source, self._groups = source, list(groups)
        self._measurement, self._interval_s = measurement, interval_s
        self._polls = Counter(
            "switchboard_lag_exporter_polls_total",
            "Offset reads from Kafka by result (ok, kafka_unavailable).",
            ["result"],
            registry=registry,
        )
        for result in ("ok", "kafka_unavailable"):
            self._polls.labels(result)

    async def poll_once(self) -> bool:
        """One measurement; False (logged, counted, the last one kept) when Kafka is away."""
        try:
            partitions = await measure(self._source, self._groups)
            cluster = await self._source.cluster()
        except OffsetsUnavailable as exc:
            self._polls.labels("kafka_unavailable").inc()
            log.warning("consumer offsets unavailable", error=str(exc))
            return False
        self._measurement.update(partitions, cluster)
        self._polls.labels("ok").inc()
        return True

    async def run(self) -> None:
        """Poll for the life of the process (supervised: anything else restarts it)."""
        while True:
            await self.poll_once()
            await asyncio.sleep(self._interval_s)
