"""Poison records on every topic, straight to Kafka, and one through the ingress.

First through the ingress: a signed Vapi end-of-call report of ~880 KiB (legal: the body
limit is 4 MiB), then a Twilio callback that must reach history within 5 s. Then three rounds,
one per kind of poison — oversized (a valid event of ~900 KB, under the broker's 1 MiB),
schema-invalid, undecodable — each putting the poison on every topic followed by a marker on
the same key (so the same partition, behind it). Each marker must reach its store (history's
``calls`` or ``messages``) and every consumer group reading the topic must commit past it
within 5 s (``dial.commands`` has no store: its consumers' offsets are the proof). A round
waits for its markers (at most 30 s) before the next, so a stall shows under the kind that
caused it; a consumer still stalled makes the later rounds late too.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final
from urllib.parse import urlencode

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from switchboard.chaos.wiring import (
    GROUP_TOPICS,
    TENANT,
    TRAFFIC_ACCOUNT,
    TRAFFIC_TOKEN,
    VAPI_SECRET,
)
from switchboard.common.events import (
    CallStatus,
    CallStatusChanged,
    DialCommand,
    Event,
    EventData,
    MessageReceived,
    MessageSent,
    MessageStatusChanged,
    encode,
)
from switchboard.common.testing import twilio_signature
from switchboard.common.topics import (
    CALL_EVENTS,
    DIAL_COMMANDS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
)

DEADLINE_S: Final = 5.0
WAIT_S: Final = 30.0
"""How long a late marker is waited for (to say how late it was)."""
OVERSIZE: Final = 900_000
WEBHOOK_OVERSIZE: Final = 880 * 1024
KINDS: Final = ("oversized", "schema-invalid", "undecodable")
"""In this order: the one most likely to stall a consumer for good goes last."""
SOURCE: Final = "/switchboard/chaos/poison"
POLL_S: Final = 0.1


@dataclass(frozen=True, slots=True)
class PoisonResult:
    """One poison record and the marker sent after it."""

    topic: str
    poison: str
    marker: str
    stored_s: float | None
    """Marker produced (or webhook answered) → marker in its store; None: not within 30 s."""
    consumed_s: float | None
    """Marker produced → every consumer group of the topic committed past it."""
    note: str = ""

    @property
    def ok(self) -> bool:
        return all(s is not None and s <= DEADLINE_S for s in (self.stored_s, self.consumed_s))


def _now() -> datetime:
    return datetime.now(UTC)


def marker_data(topic: str, marker: str, pad: str = "") -> EventData:
    """A valid event for ``topic`` whose store row is keyed by ``marker`` (``pad`` makes it
    oversized, in a field the model takes)."""
    raw = {"padding": pad} if pad else {}
    if topic == CALL_EVENTS:
        return CallStatusChanged(
            provider="twilio",
            call_id=marker,
            account_id=TRAFFIC_ACCOUNT,
            status=CallStatus.COMPLETED,
            duration_s=1,
            occurred_at=_now(),
            raw=raw,
        )
    common = {
        "channel": "whatsapp",
        "provider": "meta",
        "message_id": marker,
        "business_channel_id": "chaos-poison",  # no business: the AI leaves it alone
        "contact": "19990000000",
    }
    if topic == MESSAGE_INBOUND:
        return MessageReceived(**common, text=pad or "marker", received_at=_now())
    if topic == MESSAGE_STATUS:
        return MessageStatusChanged(**common, status="delivered", occurred_at=_now(), raw=raw)
    if topic == MESSAGE_OUTBOUND:
        return MessageSent(**common, business_id="chaos-poison", text=pad or "m", sent_at=_now())
    return DialCommand(
        campaign_id=str(uuid.uuid4()),  # no such campaign: the workers only wake up
        tenant_id=TENANT,
        action="pause",
        requested_at=_now(),
        requested_by=pad or None,
    )


def marker_id(topic: str) -> str:
    tag = uuid.uuid4().hex
    return f"CAchaos{tag[:25]}" if topic == CALL_EVENTS else f"wamid.chaos-marker-{tag}"


def poison_record(topic: str, kind: str) -> tuple[dict[str, bytes], bytes]:
    """Headers and value of one poison record for ``topic``."""
    valid = encode(Event(str(uuid.uuid4()), SOURCE, marker_data(topic, marker_id(topic))), None)
    if kind == "oversized":
        big = marker_data(topic, marker_id(topic), pad="x" * OVERSIZE)
        return encode(Event(str(uuid.uuid4()), SOURCE, big, tenant=TENANT), None).headers, (
            big.model_dump_json().encode()
        )
    if kind == "undecodable":
        return valid.headers, b"\xff\xfe\x00 not JSON {"
    return valid.headers, json.dumps({"chaos": "no required field"}).encode()


TOPICS: Final = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND, DIAL_COMMANDS)


async def _send_marker(
    producer: AIOKafkaProducer, topic: str, key: bytes
) -> tuple[str, float, TopicPartition, int]:
    """A valid event after the poison, on its key: (marker id, sent at, partition, offset)."""
    marker = marker_id(topic)
    record = encode(
        Event(str(uuid.uuid4()), SOURCE, marker_data(topic, marker), tenant=TENANT), None
    )
    sent = time.monotonic()
    meta = await producer.send_and_wait(
        topic, record.value, key=key, headers=list(record.headers.items())
    )
    return marker, sent, TopicPartition(topic, meta.partition), meta.offset


class Poisoner:
    """Sends the poison and watches the markers."""

    def __init__(
        self,
        bootstrap: str,
        history_dsn: str,
        ingress_url: str,
        commands_groups: Callable[[], list[str]],
    ) -> None:
        self._bootstrap = bootstrap
        self._dsn = history_dsn
        self._ingress = ingress_url.rstrip("/")
        self._commands_groups = commands_groups
        """The dial.commands groups of the dialer workers running now."""

    def readers(self, topic: str) -> list[str]:
        if topic == DIAL_COMMANDS:
            return self._commands_groups()
        return list(READERS[topic])

    async def run(self) -> list[PoisonResult]:
        producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all")
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
        await producer.start()
        await admin.start()
        try:
            results = [await self._webhook(pool)]
            for kind in KINDS:  # a round per kind: a stall is the kind's own
                watches = []
                for topic in TOPICS:
                    key = f"chaos-poison-{uuid.uuid4().hex[:8]}".encode()
                    headers, value = poison_record(topic, kind)
                    await producer.send_and_wait(
                        topic, value, key=key, headers=list(headers.items())
                    )
                    marker, sent, tp, offset = await _send_marker(producer, topic, key)
                    watches.append(self._watch(topic, kind, marker, sent, tp, offset, pool, admin))
                results += await asyncio.gather(*watches)
            return results
        finally:
            await producer.stop()
            await admin.close()
            await pool.close()

    async def _watch(
        self,
        topic: str,
        kind: str,
        marker: str,
        sent: float,
        tp: TopicPartition,
        offset: int,
        pool: asyncpg.Pool,
        admin: AIOKafkaAdminClient,
    ) -> PoisonResult:
        stored = consumed = None
        groups: set[str] = set()
        while time.monotonic() - sent < WAIT_S and (stored is None or consumed is None):
            if stored is None and await _stored(pool, topic, marker):
                stored = time.monotonic() - sent
            if consumed is None:
                behind = await _groups_behind(admin, tp, offset, self.readers(topic))
                if behind:
                    groups = set(behind)
                else:
                    consumed = time.monotonic() - sent
            if topic == DIAL_COMMANDS:
                stored = consumed
            await asyncio.sleep(POLL_S)
        note = "" if consumed is not None else f"groups behind: {sorted(groups)}"
        return PoisonResult(topic, kind, marker, stored, consumed, note)

    async def _webhook(self, pool: asyncpg.Pool) -> PoisonResult:
        """The oversized Vapi report through the ingress, then a Twilio callback."""
        vapi_id = str(uuid.uuid4())
        body = json.dumps(_vapi_report(vapi_id), separators=(",", ":")).encode()
        marker = marker_id(CALL_EVENTS)
        async with httpx.AsyncClient(timeout=60) as client:
            big = await client.post(
                self._ingress + "/webhooks/vapi",
                content=body,
                headers={"Content-Type": "application/json", "X-Vapi-Secret": VAPI_SECRET},
            )
            url = self._ingress + "/webhooks/twilio/voice/status"
            params = {
                "AccountSid": TRAFFIC_ACCOUNT,
                "CallSid": marker,
                "CallStatus": "completed",
                "CallDuration": "1",
                "SequenceNumber": "0",
                "From": "+15005550006",
                "To": "+17770000000",
                "Direction": "outbound-api",
            }
            sent = time.monotonic()
            answer = await client.post(
                url,
                content=urlencode(params).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(url, params, TRAFFIC_TOKEN),
                },
            )
        stored = None
        while stored is None and time.monotonic() - sent < WAIT_S:
            if await _stored(pool, CALL_EVENTS, marker):
                stored = time.monotonic() - sent
            await asyncio.sleep(POLL_S)
        report_stored = await _fetch(
            pool, "SELECT 1 FROM calls WHERE agent_call_id = $1 OR call_id = $1", vapi_id
        )
        note = (
            f"{len(body)} B report answered {big.status_code} (stored: "
            f"{'yes' if report_stored else 'no'}); marker answered {answer.status_code}"
        )
        return PoisonResult("ingress", "oversized webhook", marker, stored, stored, note)


def _vapi_report(call_id: str) -> dict[str, object]:
    started = _now().isoformat().replace("+00:00", "Z")
    transcript = ("AI: How can I help?\nUser: " + "blah " * 40 + "\n") * (WEBHOOK_OVERSIZE // 230)
    call = {
        "id": call_id,
        "orgId": "org-chaos",
        "type": "outboundPhoneCall",
        "status": "ended",
        "phoneCallProvider": "twilio",
        "phoneCallProviderId": "CA" + uuid.uuid4().hex,
        "customer": {"number": "+17770000001"},
        "startedAt": started,
        "endedAt": started,
    }
    return {
        "message": {
            "type": "end-of-call-report",
            "timestamp": int(time.time() * 1000),
            "endedReason": "customer-ended-call",
            "cost": 0.1,
            "startedAt": started,
            "endedAt": started,
            "durationSeconds": 60,
            "analysis": {"summary": "A long call.", "successEvaluation": "true"},
            "artifact": {"transcript": transcript, "messages": []},
            "call": call,
        }
    }


async def _fetch(pool: asyncpg.Pool, sql: str, *args: object) -> bool:
    try:
        async with pool.acquire() as conn:
            return await conn.fetchval(sql, *args) is not None
    except (OSError, asyncpg.PostgresError):
        return False  # the store is away: not stored yet


async def _stored(pool: asyncpg.Pool, topic: str, marker: str) -> bool:
    if topic == CALL_EVENTS:
        return await _fetch(pool, "SELECT 1 FROM calls WHERE call_id = $1", marker)
    if topic == DIAL_COMMANDS:
        return False
    return await _fetch(pool, "SELECT 1 FROM messages WHERE message_id = $1", marker)


READERS: Final = {
    topic: tuple(g for g, topics in GROUP_TOPICS.items() if topic in topics)
    for topic in (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
}
"""The consumer groups of each topic. dial.commands has one group per dialer worker
process (``dialer-commands-<host>-<pid>``): the run names the live one (a killed worker's
group stays behind for good, and aiokafka cannot describe groups on Kafka 4 to tell)."""


async def _groups_behind(
    admin: AIOKafkaAdminClient, tp: TopicPartition, offset: int, groups: list[str]
) -> list[str]:
    """Those of ``groups`` that have not committed past ``offset`` on ``tp`` (a group that
    has committed nothing there at all is behind too)."""
    behind = []
    for group in groups:
        committed = await admin.list_consumer_group_offsets(group, partitions=[tp])
        meta = committed.get(tp)
        if meta is None or meta.offset <= offset:
            behind.append(group)
    return behind
