"""The demo's delivery table, measured per event: what the simulator delivered (its delivery
record of every webhook: attempts, 2xx answers) against what history holds for that event.

Twilio status callbacks are one event each (``CallSid:CallStatus:SequenceNumber``, the parts
of the event id) and are matched with ``call_events`` rows; WhatsApp batches name their
messages' wamids, matched with ``messages`` rows."""

from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

TWILIO_KIND = "twilio.call.status"
WHATSAPP_KIND = "whatsapp.messages"


@dataclass(frozen=True, slots=True)
class Delivered:
    """One provider's events: sent by the simulator, acknowledged (a 2xx at least once),
    stored in history; duplicates the ingress accepted (2xx beyond the first) and the extra
    rows history kept of them (none expected: history drops them by event id)."""

    provider: str
    sent: int
    acknowledged: int
    stored: int
    duplicates_sent: int
    """Attempts beyond the first (the simulator's duplicate sends and retries)."""
    duplicates_accepted: int
    duplicates_stored: int

    @property
    def missing(self) -> int:
        """Acknowledged but not in history: lost (the one number that must be 0)."""
        return self.acknowledged - self.stored

    @property
    def duplicates_dropped(self) -> int:
        return self.duplicates_accepted - self.duplicates_stored


@dataclass(frozen=True, slots=True)
class _Record:
    key: str
    acked: bool
    attempts: int
    accepted: int  # 2xx answers


async def deliveries(sim: httpx.AsyncClient, kind: str) -> list[_Record]:
    """The simulator's delivery records of ``kind``."""
    body = (await sim.get("/_sim/deliveries")).json()
    at = {name: n for n, name in enumerate(body["columns"])}
    records = []
    for row in body["rows"]:
        if row[at["kind"]] != kind:
            continue
        accepted = row[at["attempts"]] - row[at["refused"]] - row[at["unanswered"]]
        records.append(
            _Record(
                row[at["key"]],
                row[at["acked"]] is not None,
                row[at["attempts"]],
                max(accepted, 0),
            )
        )
    return records


def tally(provider: str, records: list[_Record], rows: Counter[str]) -> Delivered:
    """``records`` (one per event) against ``rows`` (history's rows per event key)."""
    acked = [r for r in records if r.acked]
    return Delivered(
        provider=provider,
        sent=len(records),
        acknowledged=len(acked),
        stored=sum(1 for r in acked if rows[r.key] > 0),
        duplicates_sent=sum(r.attempts - 1 for r in records if r.attempts > 1),
        duplicates_accepted=sum(r.accepted - 1 for r in acked if r.accepted > 1),
        duplicates_stored=sum(rows[r.key] - 1 for r in records if rows[r.key] > 1),
    )


async def twilio_delivered(
    sim: httpx.AsyncClient, pool: asyncpg.Pool, sids: list[str]
) -> Delivered:
    wanted = set(sids)
    records = [r for r in await deliveries(sim, TWILIO_KIND) if r.key.split(":")[0] in wanted]
    async with pool.acquire() as conn:
        found = await conn.fetch(
            "SELECT call_id, status, sequence_number, count(*) AS n FROM call_events"
            " WHERE call_id = ANY($1) AND sequence_number IS NOT NULL"
            " GROUP BY call_id, status, sequence_number",
            sids,
        )
    rows = Counter({f"{r['call_id']}:{r['status']}:{r['sequence_number']}": r["n"] for r in found})
    return tally("twilio call status", records, rows)


async def whatsapp_delivered(sim: httpx.AsyncClient, pool: asyncpg.Pool) -> Delivered:
    """Each message of each batch is an event (a batch's key lists its wamids)."""
    batches = await deliveries(sim, WHATSAPP_KIND)
    records = [
        _Record(wamid, batch.acked, batch.attempts, batch.accepted)
        for batch in batches
        for wamid in batch.key.split(",")
        if wamid
    ]
    async with pool.acquire() as conn:
        found = await conn.fetch(
            "SELECT message_id, count(*) AS n FROM messages WHERE message_id = ANY($1)"
            " GROUP BY message_id",
            [r.key for r in records],
        )
    return tally("whatsapp inbound", records, Counter({r["message_id"]: r["n"] for r in found}))


def rows_of(delivered: list[Delivered]) -> list[tuple[str, str]]:
    """The summary table's rows, one line per measure and provider."""
    out: list[tuple[str, Any]] = []
    for d in delivered:
        out += [
            (f"{d.provider}: events sent / acknowledged", f"{d.sent} / {d.acknowledged}"),
            (f"{d.provider}: stored / acknowledged but missing", f"{d.stored} / {d.missing}"),
            (
                f"{d.provider}: duplicates sent / accepted / dropped by history",
                f"{d.duplicates_sent} / {d.duplicates_accepted} / {d.duplicates_dropped}",
            ),
        ]
    return [(k, str(v)) for k, v in out]
