"""The evidence, read once the run has settled: the simulator's own records (every webhook it
sent and what the answer was, every call, every WhatsApp message and reply) and what the stores
hold (history's PostgreSQL, the dialer's). Never the services' counters."""

import json
import uuid
from dataclasses import dataclass, field
from typing import Final

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from switchboard.chaos.wiring import WHATSAPP_NUMBER
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import partitions
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS

PAGE: Final = 100_000


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: str
    key: str
    first_sent: float
    acked: float | None
    attempts: int
    status: int | None
    refused: int = 0
    """Attempts answered non-2xx (503: the ingress could not make the event durable)."""
    unanswered: int = 0


@dataclass(frozen=True, slots=True)
class SimCall:
    sid: str
    account_sid: str
    to: str
    status: str
    created_at: float
    ended_at: float | None
    drop_final: bool


@dataclass(slots=True)
class Evidence:
    deliveries: list[Delivery] = field(default_factory=list)
    calls: list[SimCall] = field(default_factory=list)
    inbound: dict[str, str] = field(default_factory=dict)
    """wamid → customer (wa_id), messages to the AI's business number."""
    replies: dict[str, list[float]] = field(default_factory=dict)
    """customer → times the business replied to them (the simulator's send API)."""
    call_events: dict[tuple[str, int], float] = field(default_factory=dict)
    """(CallSid, SequenceNumber) → when history stored that status event (Unix time)."""
    call_rows: dict[str, tuple[str, int]] = field(default_factory=dict)
    """CallSid → (status, status rank) of history's converged row."""
    reconciled: set[str] = field(default_factory=set)
    """Calls whose final state history got from the reconciler."""
    messages: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    """wamid → (status, stored at) of history's row."""
    duplicates: dict[str, int] = field(default_factory=dict)
    """Duplicate-row checks of the stores → rows in excess."""
    attempts: int = 0
    contacts_done: int = 0


async def read_simulator(sim_url: str, evidence: Evidence) -> None:
    async with httpx.AsyncClient(base_url=sim_url, timeout=300) as sim:
        offset = 0
        while True:
            page = (await sim.get("/_sim/deliveries", params={"offset": offset})).json()
            evidence.deliveries += [Delivery(*row) for row in page["rows"]]
            offset += len(page["rows"])
            if not page["rows"] or offset >= page["total"]:
                break
        compact = (await sim.get("/_sim/calls/compact")).json()
        for row in compact["rows"]:
            c = dict(zip(compact["columns"], row, strict=True))
            evidence.calls.append(
                SimCall(
                    c["sid"],
                    c["account_sid"],
                    c["to"],
                    c["status"],
                    c["created_at"],
                    c["ended_at"],
                    c["drop_final"],
                )
            )
        messages = (await sim.get("/_sim/messages")).json()
    for m in messages["whatsapp_inbound"]:
        if m.get("phone_number_id") == WHATSAPP_NUMBER:
            evidence.inbound[m["id"]] = m["from"]
    for r in messages["whatsapp_replies"]:
        if r.get("phone_number_id") == WHATSAPP_NUMBER:
            evidence.replies.setdefault(str(r["to"]), []).append(float(r["at"]))


DUPLICATE_CHECKS: Final = {
    "history calls (rows per call id)": (
        "SELECT coalesce(sum(n - 1), 0) FROM"
        " (SELECT count(*) AS n FROM calls GROUP BY call_id HAVING count(*) > 1) d"
    ),
    "history call_events (rows per event id)": (
        "SELECT coalesce(sum(n - 1), 0) FROM"
        " (SELECT count(*) AS n FROM call_events GROUP BY event_id HAVING count(*) > 1) d"
    ),
    "history call_events (rows per callback: call, type, status, sequence number)": (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM call_events"
        " WHERE sequence_number IS NOT NULL"
        " GROUP BY call_id, event_type, status, sequence_number HAVING count(*) > 1) d"
    ),
    "history messages (rows per message id)": (
        "SELECT coalesce(sum(n - 1), 0) FROM"
        " (SELECT count(*) AS n FROM messages GROUP BY message_id HAVING count(*) > 1) d"
    ),
}
DIALER_DUPLICATES: Final = {
    # An abandoned attempt (a dead claim the provider has no call for) does not count: the
    # contact is due again by design (dialer README, crash recovery).
    "dialer attempts (rows per contact and attempt number)": (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM attempts"
        " WHERE state <> 'abandoned'"
        " GROUP BY campaign_id, contact_id, number HAVING count(*) > 1) d"
    ),
    "dialer attempts (beyond the campaign's one attempt per contact)": (
        "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM attempts"
        " WHERE state <> 'abandoned' GROUP BY campaign_id, contact_id HAVING count(*) > 1) d"
    ),
}


async def read_history(dsn: str, evidence: Evidence) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for row in await conn.fetch(
            "SELECT call_id, sequence_number, extract(epoch FROM received_at) AS at"
            " FROM call_events WHERE sequence_number IS NOT NULL"
            " AND event_type = 'switchboard.call.status.v1'"
        ):
            key = (row["call_id"], row["sequence_number"])
            evidence.call_events[key] = min(float(row["at"]), evidence.call_events.get(key, 1e18))
        evidence.reconciled = {
            r["call_id"]
            for r in await conn.fetch(
                "SELECT DISTINCT call_id FROM call_events WHERE data->'raw'->>'reconciled' = 'true'"
            )
        }
        for row in await conn.fetch("SELECT call_id, status, status_rank FROM calls"):
            evidence.call_rows[row["call_id"]] = (row["status"], row["status_rank"])
        for row in await conn.fetch(
            "SELECT message_id, status, extract(epoch FROM stored_at) AS at FROM messages"
        ):
            evidence.messages[row["message_id"]] = (row["status"], float(row["at"]))
        for name, sql in DUPLICATE_CHECKS.items():
            evidence.duplicates[name] = int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def read_dialer(dsn: str, campaign_id: str, evidence: Evidence) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name, sql in DIALER_DUPLICATES.items():
            evidence.duplicates[name] = int(await conn.fetchval(sql))
        evidence.attempts = int(await conn.fetchval("SELECT count(*) FROM attempts"))
        evidence.contacts_done = int(
            await conn.fetchval(
                "SELECT count(*) FROM contacts WHERE campaign_id = $1 AND state = 'done'",
                uuid.UUID(campaign_id),
            )
        )
    finally:
        await conn.close()


async def collect(sim_url: str, history_dsn: str, dialer_dsn: str, campaign_id: str) -> Evidence:
    evidence = Evidence()
    await read_simulator(sim_url, evidence)
    await read_history(history_dsn, evidence)
    await read_dialer(dialer_dsn, campaign_id, evidence)
    return evidence


async def published(bootstrap: str, lost: list[dict[str, object]]) -> set[str]:
    """Which of ``lost`` (verify's lost events: kind and key) are on Kafka: a call status by
    CallSid + SequenceNumber in call.events, a WhatsApp message by wamid in message.inbound, a
    status by wamid + status in message.status. An event acknowledged and on Kafka but not
    stored is a consumer's loss; one not on Kafka, the ingress's."""
    wanted_calls = {str(x["key"]).split(":", 1)[0] for x in lost if x["kind"] == KIND_STATUS}
    found: set[str] = set()
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        for topic in (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS):
            tps = await partitions(settings, topic)
            if not tps:
                continue
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while await _behind(consumer, ends):
                batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
                for records in batch.values():
                    for rec in records:
                        key = _published_key(topic, rec.key, rec.value, wanted_calls)
                        if key:
                            found.add(key)
    finally:
        await consumer.stop()
    return found & {str(x["key"]) for x in lost}


KIND_STATUS: Final = "twilio.call.status"


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


def _published_key(
    topic: str, key: bytes | None, value: bytes | None, wanted_calls: set[str]
) -> str:
    """The identity verify gives the event in this record ("" when it is none of ours)."""
    if topic == CALL_EVENTS and (key is None or key.decode(errors="replace") not in wanted_calls):
        return ""
    try:
        data = json.loads(value or b"")
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    if topic == CALL_EVENTS:
        if data.get("sequence_number") is None:
            return ""
        return f"{data.get('call_id')}:{data.get('status')}:{data['sequence_number']}"
    if topic == MESSAGE_INBOUND:
        return str(data.get("message_id", ""))
    return f"{data.get('message_id')}:{data.get('status')}"
