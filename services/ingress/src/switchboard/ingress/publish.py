"""Publishing events: a Protocol the routes depend on and its Kafka adapter."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

import structlog
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from switchboard.common.events import encode
from switchboard.common.kafka import create_broker, publish_record
from switchboard.common.settings import KafkaSettings
from switchboard.ingress.events import Outgoing

log = structlog.get_logger(__name__)
RECONNECT_DELAY_S = 1.0


class EventPublisher(Protocol):
    """Publishes an event and returns only once it is durable; raises PublishError otherwise."""

    async def publish(self, outgoing: Outgoing) -> None: ...

    async def is_ready(self) -> bool: ...


class KafkaPublisher:
    """Publishes through an idempotent acks=all producer; connects in the background."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._broker: KafkaBroker = create_broker(settings)
        self._connected = asyncio.Event()

    async def publish(self, outgoing: Outgoing) -> None:
        await publish_record(
            self._broker,
            outgoing.topic,
            encode(outgoing.event, outgoing.key),
            timeout_s=self._settings.publish_timeout_s,
        )

    async def is_ready(self) -> bool:
        return self._connected.is_set()

    async def _connect_forever(self) -> None:
        # The ingress must start (and answer /health) even while Kafka is still coming up.
        while True:
            try:
                await self._broker.connect()
            except (KafkaError, OSError) as exc:
                log.warning("kafka connect failed; retrying", error=repr(exc))
                await asyncio.sleep(RECONNECT_DELAY_S)
            else:
                self._connected.set()
                log.info("kafka producer connected")
                return

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["KafkaPublisher"]:
        """Connect on enter (in the background), flush and close on exit."""
        task = asyncio.create_task(self._connect_forever())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self._broker.stop()
