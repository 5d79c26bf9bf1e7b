"""Kafka's default key partitioning — murmur2 of the key, as the Java client and aiokafka's
``DefaultPartitioner`` compute it (a test checks they agree) — at half the cost: the ingress
partitions every webhook's key, and aiokafka's pure-Python murmur2 reads it byte by byte."""

import random
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Final

_SEED: Final = 0x9747B28C
_M: Final = 0x5BD1E995
_MASK: Final = 0xFFFFFFFF


@lru_cache(maxsize=64)
def _words(count: int) -> Callable[[bytes], tuple[int, ...]]:
    """Reads ``count`` little-endian 32-bit words at once (one ``Struct`` per key length)."""
    return struct.Struct(f"<{count}I").unpack_from


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (``org.apache.kafka.common.utils.Utils.murmur2``), unsigned."""
    length = len(data)
    h = _SEED ^ length
    for word in _words(length >> 2)(data):
        k = (word * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        at = length - tail
        if tail == 3:
            h ^= data[at + 2] << 16
        if tail >= 2:
            h ^= data[at + 1] << 8
        h = ((h ^ data[at]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


def partition_for(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """aiokafka's ``partitioner`` hook: a key's partition as every Kafka client picks it; a
    record without a key goes to a random available partition."""
    if key is None:
        return random.choice(available or all_partitions)  # noqa: S311 (spreading, not secrecy)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
