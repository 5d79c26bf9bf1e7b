"""The last measurement as Prometheus metrics, under kafka-exporter's names and labels.

``kafka_consumergroup_lag``, ``kafka_consumergroup_current_offset`` (per group, topic and
partition), ``kafka_topic_partition_current_offset``, ``kafka_topic_partition_replicas``,
``kafka_topic_partition_in_sync_replica``, ``kafka_topic_partition_under_replicated_partition``
(per topic and partition) and ``kafka_brokers`` are the series danielqsj/kafka_exporter exports,
so dashboards and alerts written for it read these unchanged.
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from switchboard.lagexporter.offsets import Cluster, PartitionLag

Clock = Callable[[], float]


@dataclass(slots=True)
class Measurement:
    """The partitions' lag of the last successful poll, and when it was taken."""

    stale_after_s: float
    clock: Clock = time.monotonic
    partitions: list[PartitionLag] = field(default_factory=list)
    cluster: Cluster = field(default_factory=lambda: Cluster(0, []))
    taken_at: float | None = None

    def update(self, partitions: list[PartitionLag], cluster: Cluster) -> None:
        self.partitions, self.cluster, self.taken_at = partitions, cluster, self.clock()

    def fresh(self) -> bool:
        return self.taken_at is not None and self.clock() - self.taken_at <= self.stale_after_s

    def current(self) -> tuple[list[PartitionLag], Cluster | None]:
        """The partitions and the cluster, or nothing when the measurement is stale."""
        return (self.partitions, self.cluster) if self.fresh() else ([], None)


class LagCollector(Collector):
    """Renders :class:`Measurement` on every scrape (nothing cached between scrapes)."""

    def __init__(self, measurement: Measurement) -> None:
        self._measurement = measurement

    def collect(self) -> Iterator[GaugeMetricFamily]:
        partitions, cluster = self._measurement.current()
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
        yield from self._replication(cluster)

    @staticmethod
    def _replication(cluster: Cluster | None) -> Iterator[GaugeMetricFamily]:
        brokers = GaugeMetricFamily("kafka_brokers", "Brokers in the cluster's metadata.")
        labels = ["topic", "partition"]
        replicas = GaugeMetricFamily(
            "kafka_topic_partition_replicas", "Replicas of the partition.", labels=labels
        )
        in_sync = GaugeMetricFamily(
            "kafka_topic_partition_in_sync_replica",
            "In-sync replicas of the partition.",
            labels=labels,
        )
        under = GaugeMetricFamily(
            "kafka_topic_partition_under_replicated_partition",
            "1 while the partition has fewer in-sync replicas than replicas.",
            labels=labels,
        )
        if cluster is not None:
            brokers.add_metric([], cluster.brokers)
            for p in cluster.partitions:
                key = [p.topic, str(p.partition)]
                replicas.add_metric(key, p.replicas)
                in_sync.add_metric(key, p.in_sync)
                under.add_metric(key, 1 if p.under_replicated else 0)
        yield brokers
        yield replicas
        yield in_sync
        yield under
