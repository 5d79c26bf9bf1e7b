"""The size of a Kafka record as the producer checks it against ``max_request_size``.

The broker refuses a record batch over ``message.max.bytes``; a record larger than the
producer's batch size travels in a batch of its own, so what must fit is one record with its
batch framing. aiokafka computes exactly that (an upper bound: the batch header and the
largest per-record framing) before it sends, and raises ``MessageSizeTooLargeError`` past
``max_request_size``; checking with the same function beforehand lets a caller shrink or
refuse a record instead of meeting that error.
"""

from collections.abc import Iterable, Mapping

from aiokafka.record.default_records import DefaultRecordBatchBuilder

Headers = Mapping[str, bytes] | Iterable[tuple[str, bytes]]


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """Bytes of a batch holding only this record, as the producer estimates them."""
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, items))
