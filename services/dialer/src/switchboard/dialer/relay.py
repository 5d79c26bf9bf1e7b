"""The outbox relay: publishes committed outbox rows to Kafka (acks=all), then marks them."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from faststream.kafka import KafkaBroker

from switchboard.common.errors import RetryableError
from switchboard.common.events import KafkaRecord
from switchboard.common.kafka import publish_record
from switchboard.dialer.metrics import OUTAGE_PAUSE_S, count_outage
from switchboard.dialer.repository import DialingStore, OutboxMessage


def publisher(
    broker: KafkaBroker, timeout_s: float
) -> Callable[[Sequence[OutboxMessage]], Awaitable[None]]:
    """Publishes a batch of outbox records (each acknowledged, acks=all)."""

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
    store: DialingStore, broker: KafkaBroker, timeout_s: float, interval_s: float
) -> None:
    """Relay until cancelled; a failed publish leaves the rows unsent for the next pass."""
    publish = publisher(broker, timeout_s)
    while True:
        try:
            sent = await store.relay_outbox(publish)
        except RetryableError as exc:
            count_outage("outbox-relay", exc, "outbox relay failed; retrying")
            sent = 0
            await asyncio.sleep(OUTAGE_PAUSE_S)
        if sent == 0:
            await asyncio.sleep(interval_s)
