"""The last measurement as Prometheus metrics, under kafka-exporter's names and labels.

``kafka_consumergroup_lag``, ``kafka_consumergroup_current_offset`` (per group, topic and
partition) and ``kafka_topic_partition_current_offset`` (per topic and partition) are the series
danielqsj/kafka_exporter exports, so dashboards and alerts written for it read these unchanged.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from switchboard.lagexporter.offsets import PartitionLag

Clock = Callable[[], float]


@dataclass(slots=True)
class Measurement:
    """The partitions' lag of the last successful poll, and when it was taken."""

    stale_after_s: float
    clock: Clock = time.monotonic
    partitions: list[PartitionLag] = field(default_factory=list)
    taken_at: float | None = None

    def update(self, partitions: list[PartitionLag]) -> None:
        self.partitions, self.taken_at = partitions, self.clock()

    def fresh(self) -> bool:
        return self.taken_at is not None and self.clock() - self.taken_at <= self.stale_after_s

    def current(self) -> list[PartitionLag]:
        """The partitions, or none when the measurement is stale."""
        return self.partitions if self.fresh() else []


class LagCollector(Collector):
    """Renders :class:`Measurement` on every scrape (nothing cached between scrapes)."""

    def __init__(self, measurement: Measurement) -> None:
        self._measurement = measurement

    def collect(self) -> Iterator[GaugeMetricFamily]:
        partitions = self._measurement.current()
        group_labels = ["consumergroup", "topic", "partition"]
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag",
            "Log-end offset minus the group's committed offset, per partition.",
            labels=group_labels,
        )
        committed = GaugeMetricFamily(
            "kafka_consumergroup_current_offset",
            "The group's committed offset, per partition.",
            labels=group_labels,
        )
        ends = GaugeMetricFamily(
            "kafka_topic_partition_current_offset",
            "Log-end offset of the partition.",
            labels=["topic", "partition"],
        )
        seen: set[tuple[str, int]] = set()
        for p in partitions:
            labels = [p.group, p.topic, str(p.partition)]
            lag.add_metric(labels, p.lag)
            committed.add_metric(labels, p.committed)
            if (p.topic, p.partition) not in seen:
                seen.add((p.topic, p.partition))
                ends.add_metric([p.topic, str(p.partition)], p.end)
        yield lag
        yield committed
        yield ends
