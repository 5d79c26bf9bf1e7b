"""The relay: publishes the outbox to ``control.config`` (acks=all, idempotent producer), and
the housekeeping loop. Both run supervised in the API process
(:class:`switchboard.common.supervise.Supervisor`)."""

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter

from switchboard.common.config import TOPIC_CONFIGS, ConfigSettings, encode, encode_tombstone
from switchboard.common.errors import PublishError, RetryableError
from switchboard.common.kafka import create_producer, ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.control.handlers import ControlPlane
from switchboard.control.repository import OutboxStore, Published
from switchboard.control.settings import RelaySettings

log = structlog.get_logger(__name__)

PUBLISHED = Counter(
    "switchboard_control_config_published_total",
    "control.config records published by the relay (entities and tombstones).",
    ["kind"],
)
RELAY_FAILURES = Counter(
    "switchboard_control_relay_failures_total",
    "Relay passes that failed (Kafka or PostgreSQL away); the outbox rows stay pending.",
)


class Relay:
    """Publishes pending outbox keys with their current state, sealed for distribution."""

    def __init__(
        self,
        outbox: OutboxStore,
        kafka: KafkaSettings,
        config: ConfigSettings,
        settings: RelaySettings,
    ) -> None:
        self._outbox = outbox
        self._kafka = kafka
        self._config = config
        self._cipher = config.sealing_cipher()
        self._topic = config.topic
        self._settings = settings
        self._timeout_s = kafka.publish_timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, items: Sequence[Published]) -> None:
        """Send every record in order, then wait for all acks; PublishError otherwise."""
        producer = self._producer
        if producer is None:
            raise PublishError("the relay is not connected")
        acks: list[asyncio.Future[Any]] = []
        try:
            async with asyncio.timeout(self._timeout_s):
                for key, entity in items:
                    k, v, headers = (
                        encode(entity, self._cipher) if entity else encode_tombstone(key)
                    )
                    acks.append(
                        await producer.send(self._topic, v, key=k, headers=list(headers.items()))
                    )
                for ack in acks:
                    await ack
        except (KafkaError, TimeoutError, OSError) as exc:
            for ack in acks:  # their outcome no longer matters: keep asyncio from logging it
                ack.add_done_callback(_ignore_outcome)
            raise PublishError(f"publish to {self._topic} failed: {exc!r}") from exc
        for _, entity in items:
            PUBLISHED.labels(entity.entity if entity else "tombstone").inc()

    async def run(self) -> None:
        """Relay until cancelled; a failed pass leaves its rows pending for the next. Kafka
        unreachable at start: raises (the Supervisor starts it again with backoff); the API
        keeps taking changes into the outbox meanwhile."""
        await ensure_topics(
            self._kafka,
            [self._topic],
            partitions=self._config.partitions,
            configs=TOPIC_CONFIGS,
        )
        producer = create_producer(self._kafka)
        await producer.start()
        self._producer = producer
        try:
            await self._relay()
        finally:
            self._producer = None
            await producer.stop()

    async def _relay(self) -> None:
        while True:
            try:
                sent = await self._outbox.relay(self.publish, self._settings.batch)
            except RetryableError as exc:
                RELAY_FAILURES.inc()
                log.warning("config relay failed; retrying", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            if sent == 0:
                await asyncio.sleep(self._settings.interval_s)


async def housekeeping(plane: ControlPlane, outbox: OutboxStore, settings: RelaySettings) -> None:
    """Withdraw expired signing keys, refresh this process's public keys (rotations made by
    other replicas), purge old sent outbox rows; every ``housekeeping_interval_s``."""
    while True:
        try:
            await plane.withdraw_expired_signing_keys()
            await plane.refresh_public_keys()
            before = plane.clock() - timedelta(seconds=settings.outbox_retention_s)
            await outbox.purge_outbox(before)
        except RetryableError as exc:
            log.warning("housekeeping failed; retrying", error=str(exc))
        await asyncio.sleep(settings.housekeeping_interval_s)


def _ignore_outcome(ack: "asyncio.Future[Any]") -> None:
    if not ack.cancelled():
        ack.exception()
