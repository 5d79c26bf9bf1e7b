"""An example consumer of Switchboard's ``call.events`` topic, as a team outside Switchboard
would write it: plain aiokafka and the CNCF CloudEvents SDK, no Switchboard code.

Each record is a CloudEvent in Kafka binary mode (attributes in ``ce_*`` headers, JSON data as
the value; see docs/asyncapi/ingress.yaml). Records of one call share a key (the call id) and
so a partition: they arrive in the order they were published, but the providers' own callbacks
come out of order and twice, so keep the highest-ranked status per call and drop an event id
you have already seen. Commit only after your own write is durable (here: after printing).

    python docs/examples/call_events_consumer.py --bootstrap 127.0.0.1:19092 --group my-team

Each call's new status is printed as one JSON line.
"""

import argparse
import asyncio
import json
import sys

from aiokafka import AIOKafkaConsumer
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat

# A status never moves backwards: Twilio's callbacks arrive out of order.
RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "busy": 4,
    "failed": 4,
    "no-answer": 4,
    "canceled": 4,
    "completed": 4,
}


async def consume(bootstrap: str, group: str, limit: int | None, idle_s: float) -> int:
    consumer = AIOKafkaConsumer(
        "call.events",
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,  # commit after our own work, not before
        auto_offset_reset="earliest",
    )
    seen: set[str] = set()  # event ids already handled (a real consumer keeps these durably)
    status: dict[str, str] = {}
    printed = 0
    await consumer.start()
    try:
        while limit is None or printed < limit:
            batch = await consumer.getmany(timeout_ms=int(idle_s * 1000))
            if not batch:
                break  # nothing new for idle_s: stop (a service would keep polling)
            for records in batch.values():
                for record in records:
                    event = ce_kafka.from_binary(
                        ce_kafka.KafkaMessage(
                            headers=dict(record.headers), key=record.key, value=record.value
                        ),
                        JSONFormat(),
                    )
                    if event.get_type() != "switchboard.call.status.v1" or event.get_id() in seen:
                        continue  # other call events (placed, AMD, reports), or a duplicate
                    seen.add(event.get_id())
                    data = event.get_data()
                    call, new = data["call_id"], data["status"]
                    if RANK.get(new, 0) < RANK.get(status.get(call, "queued"), 0):
                        continue  # an older status arriving late
                    status[call] = new
                    line = {"call": call, "status": new, "tenant": event.get_extension("tenant")}
                    sys.stdout.write(json.dumps(line) + "\n")
                    printed += 1
            await consumer.commit()
    finally:
        await consumer.stop()
    return printed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--group", default="example-call-events")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many lines")
    parser.add_argument("--idle-s", type=float, default=10.0, help="stop after this long idle")
    args = parser.parse_args()
    asyncio.run(consume(args.bootstrap, args.group, args.limit, args.idle_s))


if __name__ == "__main__":
    main()
