"""Publishing ``message.outbound`` through the worker's broker (acks=all, idempotent)."""

from faststream.kafka import KafkaBroker

from switchboard.common.events import Event, encode
from switchboard.common.kafka import publish_record
from switchboard.common.topics import MESSAGE_OUTBOUND


class KafkaOutbound:
    def __init__(
        self, broker: KafkaBroker, timeout_s: float, topic: str = MESSAGE_OUTBOUND
    ) -> None:
        self._broker = broker
        self._timeout_s = timeout_s
        self._topic = topic

    async def publish(self, event: Event, key: str) -> None:
        await publish_record(
            self._broker, self._topic, encode(event, key), timeout_s=self._timeout_s
        )
