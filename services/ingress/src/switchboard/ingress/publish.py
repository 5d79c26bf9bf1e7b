"""The Kafka side of publishing: one idempotent acks=all producer, connected in the
background so the ingress starts (and spools) while Kafka is still coming up."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from switchboard.common.errors import PublishError
from switchboard.common.events import KafkaRecord
from switchboard.common.kafka import (
    SendOutcome,
    create_producer,
    needs_new_producer,
    send_each,
    send_records,
)
from switchboard.common.settings import KafkaSettings

log = structlog.get_logger(__name__)
RECONNECT_DELAY_S = 1.0
STOP_TIMEOUT_S = 5.0


class RecordPublisher(Protocol):
    """The Kafka side of delivery and draining (KafkaPublisher; a fake in tests)."""

    @property
    def connected(self) -> bool: ...

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None:
        """PublishError unless every record was acked within ``timeout_s``."""

    async def publish_each(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> list[SendOutcome]:
        """The outcome of each record: None (acked), RecordRefused or PublishError."""


class KafkaPublisher:
    """Publishes encoded records and waits for the broker's acks."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None:
        """PublishError unless every record was acked within ``timeout_s``."""
        producer = self._producer
        if producer is None:
            raise PublishError("producer not connected")
        try:
            await send_records(producer, records, timeout_s=timeout_s)
        except PublishError as exc:
            if needs_new_producer(exc):
                self._replace(producer, exc)
            raise

    async def publish_each(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> list[SendOutcome]:
        """Each record's outcome (None: acked), so one failure hides no success."""
        producer = self._producer
        if producer is None:
            return [PublishError("producer not connected")] * len(records)
        outcomes = await send_each(producer, records, timeout_s=timeout_s)
        stale = next((o for o in outcomes if needs_new_producer(o)), None)
        if stale is not None:
            self._replace(producer, stale)
        return outcomes

    def _replace(self, producer: AIOKafkaProducer, error: BaseException) -> None:
        """The brokers refuse ``producer``'s idempotence state for good (e.g. after every broker
        was down): stop it and connect a new one in the background; meanwhile webhooks spool."""
        if self._producer is not producer:
            return  # replaced already
        self._producer = None
        log.warning("kafka producer state refused; replacing the producer", error=repr(error))
        self._connecting = asyncio.create_task(self._reconnect(producer))

    async def _reconnect(self, old: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), timeout=STOP_TIMEOUT_S)
        await self._connect_forever()

    async def _connect_forever(self) -> None:
        while True:
            producer = create_producer(self._settings)
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                log.warning("kafka connect failed; retrying", error=repr(exc))
                await producer.stop()
                await asyncio.sleep(RECONNECT_DELAY_S)
            else:
                self._producer = producer
                log.info("kafka producer connected")
                return

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["KafkaPublisher"]:
        """Connect in the background on enter; flush and close on exit."""
        self._connecting = asyncio.create_task(self._connect_forever())
        try:
            yield self
        finally:
            task = self._connecting
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if self._producer is not None:
                producer, self._producer = self._producer, None
                # A flush waits forever for an absent broker. Giving up loses nothing: what
                # was not acked in time is in the spool, which keeps it for the next start.
                try:
                    await asyncio.wait_for(producer.stop(), timeout=STOP_TIMEOUT_S)
                except TimeoutError:
                    log.warning("kafka producer did not flush in time; unacked events spooled")
