"""Writes a batch of messages in one transaction: first sightings into ``message_index``
(each message's owner and partition day), the messages merged column by column with the rule
of :mod:`switchboard.history.messages`, their conversations' rows (arrays through
``unnest``)."""

from dataclasses import astuple, dataclass, replace
from datetime import datetime

import asyncpg

from switchboard.history.adapters.packing import transpose
from switchboard.history.adapters.recent_events import FirstSeen
from switchboard.history.adapters.sql import (
    MESSAGE_COLUMNS,
    UPSERT_CONVERSATIONS,
    UPSERT_INDEX,
    UPSERT_MESSAGES,
)
from switchboard.history.messages import MessageRow


class MessageWriter:
    """Writes merged messages and their conversations."""

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]") -> None:
        self._pool = pool

    async def write(self, merged: dict[str, MessageRow], first: dict[str, FirstSeen]) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            index = await _index(conn, "message_index", "message_id", first)
            values = []
            conversations: dict[tuple[str, str], _ConversationRow] = {}
            for message_id in sorted(merged):
                m = merged[message_id]
                owner, seen_at = index[message_id]
                values.append(_message_values(m, owner, seen_at))
                at = m.sent_at or m.status_at or m.occurred_at
                key = (owner, m.conversation_id)
                row = _ConversationRow(
                    owner,
                    m.conversation_id,
                    m.channel,
                    m.business_channel_id,
                    m.contact,
                    m.contact_name,
                    seen_at,
                    at,
                    at,
                )
                known = conversations.get(key)
                conversations[key] = row if known is None else known.merge(row)
            await conn.execute(UPSERT_MESSAGES, *transpose(values, len(MESSAGE_COLUMNS)))
            await conn.execute(
                UPSERT_CONVERSATIONS,
                *transpose([astuple(v) for _, v in sorted(conversations.items())], 9),
            )


async def _index(
    conn: "asyncpg.Connection[asyncpg.Record]",
    table: str,
    key: str,
    first: dict[str, FirstSeen],
) -> dict[str, FirstSeen]:
    """Each message's owner and first sighting as stored (the first batch's, not this one's
    if it was seen before)."""
    ids = sorted(first)
    rows = await conn.fetch(
        UPSERT_INDEX.format(table=table, key=key),
        ids,
        [first[i][0] for i in ids],
        [first[i][1] for i in ids],
    )
    return {r["id"]: (r["tenant_id"], r["seen_at"]) for r in rows}


@dataclass(frozen=True, slots=True)
class _ConversationRow:
    tenant_id: str
    conversation_id: str
    channel: str
    business_channel_id: str
    contact: str
    contact_name: str | None
    seen_at: datetime
    first_message_at: datetime
    last_message_at: datetime

    def merge(self, other: "_ConversationRow") -> "_ConversationRow":
        names = [n for n in (self.contact_name, other.contact_name) if n is not None]
        return replace(
            self,
            contact_name=min(names) if names else None,
            seen_at=min(self.seen_at, other.seen_at),
            first_message_at=min(self.first_message_at, other.first_message_at),
            last_message_at=max(self.last_message_at, other.last_message_at),
        )


def _message_values(row: MessageRow, owner: str, seen_at: datetime) -> list[object]:
    values: list[object] = []
    for name, _ in MESSAGE_COLUMNS:
        if name == "seen_at":
            values.append(seen_at)
        elif name == "tenant_id":
            values.append(owner)
        else:
            values.append(getattr(row, name))
    return values
