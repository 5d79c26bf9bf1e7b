"""The outbox relay: publishes committed outbox rows to Kafka (acks=all), then marks them."""

import asyncio
from collections.abc import Sequence

import structlog
from faststream.kafka import KafkaBroker

from switchboard.common.errors import RetryableError
from switchboard.common.events import KafkaRecord
from switchboard.common.kafka import publish_record
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.dialing import OUTAGE_RETRIES
from switchboard.dialer.repository import OutboxMessage

log = structlog.get_logger(__name__)


def publisher(broker: KafkaBroker, timeout_s: float):  # type: ignore[no-untyped-def]
    async def publish(messages: Sequence[OutboxMessage]) -> None:
        await asyncio.gather(
            *(
                publish_record(
                    broker,
                    m.topic,
                    KafkaRecord(
                        m.key.encode() if m.key is not None else None,
                        m.value,
                        {k: v.encode() for k, v in m.headers.items()},
                    ),
                    timeout_s=timeout_s,
                )
                for m in messages
            )
        )

    return publish


async def run_relay(
    store: PostgresDialingStore, broker: KafkaBroker, timeout_s: float, interval_s: float
) -> None:
    """Relay until cancelled; a failed publish leaves the rows unsent for the next pass."""
    publish = publisher(broker, timeout_s)
    while True:
        try:
            sent = await store.relay_outbox(publish)
        except RetryableError as exc:
            OUTAGE_RETRIES.labels("outbox-relay").inc()
            log.warning("outbox relay failed; retrying", error=str(exc))
            sent = 0
            await asyncio.sleep(1.0)
        if sent == 0:
            await asyncio.sleep(interval_s)
