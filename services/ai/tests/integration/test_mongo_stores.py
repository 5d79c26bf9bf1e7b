"""The MongoDB adapters on real FerretDB: sealed tokens, channels, ledger races, usage, memory."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_replies import MongoConversations, MongoLedger, MongoUsage
from switchboard.ai.admin import rotate_keys
from switchboard.ai.cache import token_context
from switchboard.ai.errors import ChannelTaken
from switchboard.ai.models import Reply, ReplyState, StoredMessage
from switchboard.common.crypto import Cipher

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_tokens_are_encrypted_at_rest(db, build, cipher) -> None:
    store = MongoBusinesses(db)
    business = build.business(cipher)
    await store.create(business)
    raw = await store.raw(business.id)
    text = repr(raw)
    assert "wa-secret-token" not in text and "tw-secret-token" not in text
    assert raw["whatsapp_token"]["kid"] == "k1"
    assert len(raw["whatsapp_token"]["nonce"]) == 12
    found = await store.by_channel("acme", build.wa_id)
    assert found == business
    assert cipher.open(found.whatsapp_token, token_context(business.id, "whatsapp")) == (
        "wa-secret-token"
    )


async def test_channel_ids_are_unique_across_businesses(db, build, cipher) -> None:
    store = MongoBusinesses(db)
    await store.create(build.business(cipher, id="b1"))
    clash = build.business(
        cipher, id="b2", whatsapp_phone_number_ids=("free-1",), twilio_numbers=(build.sms_number,)
    )
    with pytest.raises(ChannelTaken):
        await store.create(clash)
    assert await store.by_channel("acme", "free-1") is None  # the partial claim was released
    await store.create(
        build.business(cipher, id="b3", whatsapp_phone_number_ids=("free-1",), twilio_numbers=())
    )
    assert (await store.by_channel("acme", "free-1")).id == "b3"


async def test_routes_from_before_the_control_plane_are_upgraded_per_tenant(
    db, build, cipher
) -> None:
    store = MongoBusinesses(db)
    await store.create(build.business(cipher))
    await db["business_channels"].delete_many({})
    for channel in (build.wa_id, build.sms_number):  # the earlier form: _id = the channel id
        await db["business_channels"].insert_one(
            {"_id": channel, "business_id": "biz1", "tenant": "acme"}
        )
    assert await store.by_channel("acme", build.wa_id) is None
    assert await store.upgrade_routes() == 2
    assert (await store.by_channel("acme", build.wa_id)).id == "biz1"
    assert (await store.by_channel("acme", build.sms_number)).id == "biz1"
    assert await store.by_channel("globex", build.wa_id) is None
    assert await store.upgrade_routes() == 0


async def test_key_rotation_re_encrypts_and_old_records_still_decrypt(db, build) -> None:
    store = MongoBusinesses(db)
    old_cipher = build.cipher("k1")
    await store.create(build.business(old_cipher))
    new_cipher = build.cipher("k2")  # k2 current, k1 still in the ring
    stored = await store.by_channel("acme", build.wa_id)
    assert (
        new_cipher.open(stored.twilio_token, token_context("biz1", "twilio")) == "tw-secret-token"
    )
    assert await rotate_keys(store, new_cipher) == 1
    raw = await store.raw("biz1")
    assert raw["whatsapp_token"]["kid"] == raw["twilio_token"]["kid"] == "k2"
    only_k2 = Cipher({"k2": build.key_2}, "k2")
    rotated = await store.by_channel("acme", build.wa_id)
    assert only_k2.open(rotated.whatsapp_token, token_context("biz1", "whatsapp")) == (
        "wa-secret-token"
    )
    assert rotated.version == 2
    assert await rotate_keys(store, new_cipher) == 0  # nothing left to do


async def test_concurrent_claims_of_one_message_have_one_winner(db) -> None:
    ledger = MongoLedger(db)
    results = await asyncio.gather(*(ledger.claim("wamid.X", "c", NOW) for _ in range(8)))
    assert sum(r is None for r in results) == 1
    stored = await ledger.store_reply("wamid.X", "b", Reply(text="hi"))
    assert stored.state is ReplyState.MODEL_DONE
    second = await ledger.store_reply("wamid.X", "b", Reply(text="other"))
    assert second.reply.text == "hi"  # the first stored reply wins
    sends = await asyncio.gather(*(ledger.begin_send("wamid.X") for _ in range(5)))
    assert sends.count(True) == 1
    assert await ledger.mark_sent("wamid.X", "out-1", NOW)
    assert not await ledger.mark_sent("wamid.X", "out-2", NOW)
    record = await ledger.get("wamid.X")
    assert record.provider_message_id == "out-1"
    assert record.sent_at == NOW


async def test_usage_counts_once_per_message_and_sums_the_month(db, build, cipher) -> None:
    usage = MongoUsage(db)
    business = build.business(cipher)
    reply = Reply(text="x", model="m", prompt_tokens=10, completion_tokens=5, cost_usd=0.25)
    await usage.add(business, date(2026, 11, 1), reply, counted_key="m1")
    await usage.add(business, date(2026, 11, 1), reply, counted_key="m1")
    await usage.add(business, date(2026, 11, 2), reply, counted_key="m2")
    await usage.add(business, date(2026, 12, 1), reply, counted_key="m3")
    assert await usage.month_cost(business.id, "2026-11") == pytest.approx(0.5)
    rows = await usage.daily("acme", None, "2026-11-01", "2026-11-30")
    assert [(r["day"], r["replies"], r["prompt_tokens"]) for r in rows] == [
        ("2026-11-01", 1, 10),
        ("2026-11-02", 1, 10),
    ]
    assert await usage.daily("other-tenant", None, None, None) == []


async def test_conversation_append_is_idempotent_and_recent_is_oldest_first(db) -> None:
    conv = MongoConversations(db)

    def turn(i: int, role: str = "user") -> StoredMessage:
        return StoredMessage(f"m{i}", "c1", "b", role, f"t{i}", NOW + timedelta(seconds=i))

    await conv.append([turn(0), turn(1, "assistant")])
    await conv.append([turn(0), turn(1, "assistant")])
    await conv.append([turn(2), turn(3, "assistant")])
    recent = await conv.recent("c1", 3)
    assert [m.id for m in recent] == ["m1", "m2", "m3"]
    assert await conv.recent("other", 3) == []


async def test_month_spend_is_rebuilt_from_the_rows_after_losing_redis(
    db, build, cipher, ai_settings
) -> None:
    from redis.asyncio import Redis

    from switchboard.ai.adapters.redis_spend import RedisSpend

    redis = Redis.from_url(ai_settings.redis.url.get_secret_value())
    spend = RedisSpend(MongoUsage(db), redis, f"{ai_settings.redis_namespace}:spend")
    business = build.business(cipher)
    reply = Reply(text="x", model="m", prompt_tokens=10, completion_tokens=5, cost_usd=0.25)
    try:
        assert await spend.month_cost(business.id, "2026-11") == 0.0  # no marker: no sum
        await spend.add(business, date(2026, 11, 1), reply, counted_key="m1")
        await spend.add(business, date(2026, 11, 1), reply, counted_key="m1")  # redelivery
        await spend.add(business, date(2026, 11, 2), reply, counted_key="m2")
        assert await spend.month_cost(business.id, "2026-11") == pytest.approx(0.5)
        await redis.delete(*[k async for k in redis.scan_iter(f"{ai_settings.redis_namespace}:*")])
        assert await spend.month_cost(business.id, "2026-11") == pytest.approx(0.5)
        assert await spend.month_cost(business.id, "2026-12") == 0.0
    finally:
        await redis.aclose()
    # one marker for the month, next to the rows, and no sum counts it
    assert await db["usage_events"].count_documents({"marker": True}) == 1
    [row] = await MongoUsage(db).daily("acme", None, "2026-11-01", "2026-11-01")
    assert (row["replies"], row["cost_usd"]) == (1, pytest.approx(0.25))


async def test_conversation_marker_is_stored_with_the_turns_and_never_read_as_one(db) -> None:
    conv = MongoConversations(db)
    assert not await conv.known("c1")
    turn = StoredMessage("m0", "c1", "b", "user", "hi", NOW)
    assert await conv.insert_new([turn]) == [turn]
    assert await conv.insert_new([turn]) == []  # marker and turn both there already
    assert await conv.known("c1")
    assert not await conv.known("c2")
    assert [m.id for m in await conv.recent("c1", 10)] == ["m0"]


async def test_concurrent_claims_of_many_messages_one_winner_each(db) -> None:
    """Claims arriving together share insert_many round trips; each id still has one winner."""
    ledger = MongoLedger(db)
    ids = [f"wamid.B{i % 4}" for i in range(16)]
    outcomes = await asyncio.gather(*(ledger.claim(i, "c", NOW) for i in ids))
    winners = [i for i, o in zip(ids, outcomes, strict=True) if o is None]
    assert sorted(winners) == [f"wamid.B{i}" for i in range(4)]
    assert {o.state for o in outcomes if o is not None} == {ReplyState.CLAIMED}
    replies = await asyncio.gather(
        *(ledger.store_reply("wamid.B0", "b", Reply(text=f"r{i}")) for i in range(4))
    )
    assert len({r.reply.text for r in replies}) == 1  # the first stored reply, for everyone
