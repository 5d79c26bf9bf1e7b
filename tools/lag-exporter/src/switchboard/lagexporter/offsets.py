"""Committed and end offsets from Kafka, and the lag they give; the cluster's replication.

The lag of a group's partition is its log-end offset minus the group's committed offset, read
at the broker, never from the consumers themselves: a group whose consumers are stopped, stuck
or scaled away reports nothing, and that is when its lag matters most. The cluster metadata
gives the live brokers and, per partition, its replicas and in-sync replicas.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from switchboard.common.errors import RetryableError
from switchboard.common.settings import KafkaSettings


class OffsetsUnavailable(RetryableError):
    """Kafka did not answer an offsets request (down, unreachable, electing)."""


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        # A committed offset past the end (a topic recreated under the group) is no backlog.
        return max(self.end - self.committed, 0)


@dataclass(frozen=True, slots=True)
class PartitionReplicas:
    topic: str
    partition: int
    replicas: int
    in_sync: int

    @property
    def under_replicated(self) -> bool:
        return self.in_sync < self.replicas


@dataclass(frozen=True, slots=True)
class Cluster:
    brokers: int
    partitions: list[PartitionReplicas]


class OffsetSource(Protocol):
    async def committed(self, group: str) -> Mapping[TopicPartition, int]:
        """The group's committed offset per partition (partitions it never committed: absent)."""
        ...

    async def ends(self, partitions: Iterable[TopicPartition]) -> Mapping[TopicPartition, int]:
        """The log-end offset of each partition."""
        ...

    async def cluster(self) -> Cluster:
        """Live brokers, and every topic's partitions with their replica counts."""
        ...


async def measure(source: OffsetSource, groups: Iterable[str]) -> list[PartitionLag]:
    """The lag of every partition each group has committed to."""
    committed = {group: await source.committed(group) for group in groups}
    partitions = {tp for offsets in committed.values() for tp in offsets}
    ends = await source.ends(partitions) if partitions else {}
    return [
        PartitionLag(group, tp.topic, tp.partition, offset, ends[tp])
        for group, offsets in committed.items()
        for tp, offset in sorted(offsets.items())
        if tp in ends
    ]


class KafkaOffsets:
    """:class:`OffsetSource` over aiokafka: an admin client for committed offsets, a consumer
    without a group for end offsets. Connects on first use and again after a failure, so the
    exporter starts (and reports not ready) while Kafka is away."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _connect(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            common = {
                "bootstrap_servers": self._settings.bootstrap_servers,
                "client_id": f"{self._settings.client_id}-lag-exporter",
                "request_timeout_ms": self._settings.request_timeout_ms,
            }
            admin = AIOKafkaAdminClient(**common)
            consumer = AIOKafkaConsumer(enable_auto_commit=False, **common)
            try:
                await admin.start()
                await consumer.start()
            except BaseException:
                await admin.close()
                await consumer.stop()
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def committed(self, group: str) -> dict[TopicPartition, int]:
        try:
            admin, _ = await self._connect()
            offsets = await admin.list_consumer_group_offsets(group)
        except (KafkaError, OSError) as exc:
            await self.close()
            raise OffsetsUnavailable(f"committed offsets of {group}: {exc!r}") from exc
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def ends(self, partitions: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        try:
            _, consumer = await self._connect()
            ends = await consumer.end_offsets(list(partitions))
        except (KafkaError, OSError) as exc:
            await self.close()
            raise OffsetsUnavailable(f"end offsets: {exc!r}") from exc
        return {tp: int(offset) for tp, offset in ends.items()}

    async def cluster(self) -> Cluster:
        try:
            admin, _ = await self._connect()
            described = await admin.describe_cluster()
            topics = await admin.describe_topics()
        except (KafkaError, OSError) as exc:
            await self.close()
            raise OffsetsUnavailable(f"cluster metadata: {exc!r}") from exc
        partitions = [
            PartitionReplicas(topic["topic"], p["partition"], len(p["replicas"]), len(p["isr"]))
            for topic in topics
            for p in topic["partitions"]
        ]
        return Cluster(
            len(described["brokers"]), sorted(partitions, key=lambda p: (p.topic, p.partition))
        )

    async def close(self) -> None:
        admin, consumer = self._admin, self._consumer
        self._admin = self._consumer = None
        if admin is not None:
            await admin.close()
        if consumer is not None:
            await consumer.stop()
