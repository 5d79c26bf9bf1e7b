"""What WhatsApp handling stores, on the real FerretDB: service windows, business options, a
template reply in the ledger."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_replies import MongoLedger
from switchboard.ai.adapters.mongo_windows import SERVICE_WINDOWS, MongoWindows
from switchboard.ai.models import Reply, ReplyState, Template

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_the_window_only_moves_forward(db) -> None:
    windows = MongoWindows(db, every_s=0)
    assert await windows.last_inbound("c1") is None
    await windows.record("c1", T0)
    await windows.record("c1", T0 - timedelta(hours=3))  # a redelivered older message
    assert await windows.last_inbound("c1") == T0
    await windows.record("c1", T0 + timedelta(minutes=5))
    assert await windows.last_inbound("c1") == T0 + timedelta(minutes=5)
    # another process (its own memory) writing an older time changes nothing either
    await MongoWindows(db, every_s=0).record("c1", T0)
    assert await windows.last_inbound("c1") == T0 + timedelta(minutes=5)


async def test_concurrent_first_writes_make_one_document(db) -> None:
    times = [T0 + timedelta(seconds=i) for i in range(8)]
    await asyncio.gather(*(MongoWindows(db, every_s=0).record("c2", t) for t in times))
    docs = await db[SERVICE_WINDOWS].find({"_id": "c2"}).to_list(None)
    assert len(docs) == 1
    assert docs[0]["last_inbound_at"] <= times[-1]


async def test_a_process_writes_a_conversation_at_most_once_a_minute(db) -> None:
    windows = MongoWindows(db, every_s=60)
    await windows.record("c3", T0)
    await windows.record("c3", T0 + timedelta(seconds=30))  # remembered: not written
    assert await windows.last_inbound("c3") == T0
    await windows.record("c3", T0 + timedelta(seconds=90))
    assert await windows.last_inbound("c3") == T0 + timedelta(seconds=90)


async def test_business_whatsapp_options_round_trip(db, build, cipher) -> None:
    store = MongoBusinesses(db)
    business = build.business(
        cipher,
        message_types={"reaction": "answer", "sticker": "fallback"},
        whatsapp_template=Template("order_followup", "en_US", ("{contact_name}",)),
        read_receipts=True,
        fetch_media=True,
        reasoning_effort="low",
    )
    await store.create(business)
    assert await store.by_channel("acme", build.wa_id) == business


async def test_a_template_reply_round_trips_through_the_ledger(db) -> None:
    ledger = MongoLedger(db)
    template = Template("order_followup", "en_US", ("Ada",))
    reply = Reply(text=template.describe(), template=template)
    assert await ledger.claim("m1", "conv", T0) is None
    await ledger.store_reply("m1", "biz", reply)
    record = await ledger.get("m1")
    assert record is not None and record.state is ReplyState.MODEL_DONE
    assert record.reply == reply
    # a reply skipped after it was stored (Meta refused it) reads as skipped
    assert await ledger.begin_send("m1")
    await ledger.abort_send("m1")
    await ledger.skip("m1", "window_closed", "biz")
    skipped = await ledger.get("m1")
    assert skipped is not None
    assert (skipped.state, skipped.reason) == (ReplyState.SKIPPED, "window_closed")
