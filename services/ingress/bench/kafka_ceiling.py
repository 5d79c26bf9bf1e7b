"""The ceiling for the Kafka side: aiokafka alone publishing the same encoded events with the
same concurrency and producer settings as the ingress (acks=all, idempotent). Bench only.

Usage: python kafka_ceiling.py <bootstrap> <concurrency> <seconds>  → prints events/s as JSON.
"""

import asyncio
import json
import sys
import time
import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer

from switchboard.common.events import CallStatus, CallStatusChanged, Event, encode, event_id

TOPIC = "bench.kafka-ceiling"  # not call.events: consumers should not replay bench traffic


def record(n: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    sid = f"CA{uuid.uuid4().hex}"
    data = CallStatusChanged(
        provider="twilio",
        call_id=sid,
        status=CallStatus.COMPLETED,
        sequence_number=3,
        duration_s=42,
        occurred_at=datetime.now(UTC),
        raw={"CallSid": sid, "CallStatus": "completed"},
    )
    r = encode(
        Event(
            id=event_id("bench", sid, n), source="/bench", data=data, subject=sid, tenant="bench"
        ),
        sid,
    )
    return r.key or b"", r.value, list(r.headers.items())


async def main(bootstrap: str, concurrency: int, seconds: float) -> None:
    records = [record(n) for n in range(5000)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal sent
        i = offset
        while time.perf_counter() < deadline:
            key, value, headers = records[i % len(records)]
            await producer.send_and_wait(TOPIC, value, key=key, headers=headers)
            sent += 1
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    elapsed = time.perf_counter() - started
    await producer.stop()
    print(json.dumps({"events_per_s": sent / elapsed, "events": sent}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3])))
