"""The Kafka side of publishing: one idempotent acks=all producer, connected in the
background so the ingress starts (and spools) while Kafka is still coming up."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import structlog
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker

from switchboard.common.errors import PublishError
from switchboard.common.events import KafkaRecord
from switchboard.common.kafka import create_broker, publish_record
from switchboard.common.settings import KafkaSettings

log = structlog.get_logger(__name__)
RECONNECT_DELAY_S = 1.0
STOP_TIMEOUT_S = 5.0


class KafkaPublisher:
    """Publishes encoded records and waits for the broker's ack."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._broker: KafkaBroker = create_broker(settings)
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None:
        """Publish every record concurrently; PublishError unless all were acked in time."""
        if not self._connected.is_set():
            raise PublishError("producer not connected")
        results = await asyncio.gather(
            *(
                publish_record(self._broker, topic, record, timeout_s=timeout_s)
                for topic, record in records
            ),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise PublishError(f"{len(failures)} of {len(records)} not acked: {failures[0]}")

    async def _connect_forever(self) -> None:
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
        """Connect in the background on enter; flush and close on exit."""
        task = asyncio.create_task(self._connect_forever())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # A flush waits forever for an absent broker. Giving up loses nothing: whatever
            # was not acked in time is in the spool, which keeps it for the next start.
            try:
                await asyncio.wait_for(self._broker.stop(), timeout=STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("kafka producer did not flush in time; unacked events stay spooled")
