"""Kafka wiring: the broker factory, topic creation, acknowledged publishing, dead letters,
stalls."""

from switchboard.common.kafka.admin import ensure_topics
from switchboard.common.kafka.batch import (
    BatchHandler,
    BatchProcessor,
    Route,
    records_of,
    undecoded,
)
from switchboard.common.kafka.broker import (
    SendOutcome,
    create_broker,
    create_producer,
    needs_new_producer,
    publish_record,
    send_each,
    send_records,
)
from switchboard.common.kafka.dlq import (
    DeadLetters,
    DeadLetterSink,
    handle_or_dead_letter,
    process_record,
    replay_dead_letters,
)
from switchboard.common.kafka.keyed import KeyedPipeline, KeyedSubscription, PartitionOffsets
from switchboard.common.kafka.limits import record_size
from switchboard.common.kafka.stall import Stall
from switchboard.common.retry import RetryPolicy, call_with_retries

__all__ = [
    "BatchHandler",
    "BatchProcessor",
    "DeadLetterSink",
    "DeadLetters",
    "KeyedPipeline",
    "KeyedSubscription",
    "PartitionOffsets",
    "RetryPolicy",
    "Route",
    "SendOutcome",
    "Stall",
    "call_with_retries",
    "create_broker",
    "create_producer",
    "ensure_topics",
    "handle_or_dead_letter",
    "needs_new_producer",
    "process_record",
    "publish_record",
    "record_size",
    "records_of",
    "replay_dead_letters",
    "send_each",
    "send_records",
    "undecoded",
]
