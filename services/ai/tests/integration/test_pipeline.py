"""The reply pipeline on real FerretDB + Redis (model, sender, publisher faked)."""

import asyncio

import pytest

from switchboard.ai.breaker import BreakerState
from switchboard.ai.models import Reply, ReplyState

pytestmark = pytest.mark.integration


async def test_conversation_with_memory(runtime, fakes, build, cipher) -> None:
    await runtime.businesses.create(build.business(cipher))
    for i, text in enumerate(["My name is Ada", "What is my name?"]):
        assert await runtime.handle(build.inbound(f"m{i}", text=text, seq=i)) == "replied"
    prompt = fakes.model.prompts[-1]
    assert [(m.role, m.content) for m in prompt[1:]] == [
        ("user", "My name is Ada"),
        ("assistant", "reply to: My name is Ada"),
        ("user", "What is my name?"),
    ]
    [_, (event, key)] = fakes.publisher.published
    assert key == f"{build.wa_id}:15551230001"
    assert event.data.in_reply_to == "m1"


async def test_duplicate_inbound_one_reply_even_concurrently(runtime, fakes, build, cipher) -> None:
    await runtime.businesses.create(build.business(cipher))
    event = build.inbound()
    outcomes = await asyncio.gather(*(runtime.handle(event) for _ in range(5)))
    assert outcomes.count("replied") == 1
    assert len(fakes.sender.sent) == 1
    assert len(fakes.publisher.published) == 1
    assert await runtime.handle(event) == "duplicate"
    assert len(fakes.sender.sent) == 1


async def test_crash_between_model_and_send_still_one_reply(runtime, fakes, build, cipher) -> None:
    await runtime.businesses.create(build.business(cipher))
    ledger = runtime.ledger
    real = ledger.begin_send

    class Crash(Exception):
        pass

    async def crash(message_id: str) -> bool:
        raise Crash  # the process dies after the reply was stored, before the send

    ledger.begin_send = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await runtime.handle(build.inbound())
    assert (await ledger.get("wamid.in1")).state is ReplyState.MODEL_DONE
    ledger.begin_send = real  # type: ignore[method-assign]
    fakes.model.fail = True  # asking the model again would give the fallback text
    assert await runtime.handle(build.inbound()) == "replied"
    assert await runtime.handle(build.inbound()) == "duplicate"
    [sent] = fakes.sender.sent
    assert sent.text == "reply to: Do you sell bread?"
    assert len(fakes.model.prompts) == 1


async def test_model_failing_fallback_and_breaker(runtime, fakes, build, cipher) -> None:
    await runtime.businesses.create(build.business(cipher))
    fakes.model.fail = True
    outcomes = [await runtime.handle(build.inbound(f"m{i}")) for i in range(3)]
    assert outcomes == ["fallback"] * 3
    assert runtime.pipeline.breaker.state is BreakerState.OPEN  # threshold 2
    assert len(fakes.model.prompts) == 2
    assert [e.data.fallback for e, _ in fakes.publisher.published] == [True] * 3
    fakes.clock.advance(31)
    fakes.model.fail = False
    assert await runtime.handle(build.inbound("m9")) == "replied"
    assert runtime.pipeline.breaker.state is BreakerState.CLOSED


async def test_spend_limit(runtime, fakes, build, cipher) -> None:
    await runtime.businesses.create(
        build.business(cipher, monthly_spend_limit_usd=0.01, fallback_text="Limit reached.")
    )
    assert await runtime.handle(build.inbound("m1")) == "replied"
    assert await runtime.handle(build.inbound("m2")) == "fallback"
    assert [s.text for s in fakes.sender.sent][-1] == "Limit reached."
    assert len(fakes.model.prompts) == 1
    spent = await runtime.pipeline.usage.month_cost("biz1", "2026-11")
    assert spent >= 0.01


async def test_rate_limit_in_redis(runtime, fakes, build, cipher) -> None:
    from switchboard.common.testing import unique

    business = build.business(cipher, id=unique("biz"), rate_limit_per_minute=2, fallback_text="")
    await runtime.businesses.create(business)
    outcomes = [await runtime.handle(build.inbound(f"r{i}")) for i in range(3)]
    assert outcomes == ["replied", "replied", "limited_silent"]
    assert len(fakes.sender.sent) == 2


async def test_messages_nobody_will_answer_write_nothing(runtime, db, fakes, build, cipher):
    """A channel no business owns, an inactive business, a type the business ignores: no
    ledger step, no usage, no memory (a burst to an unconfigured number used to cost two
    inserts per message on FerretDB)."""
    fakes.config.bind("phone/+15550000777", "acme")
    fakes.config.bind("phone/+15550000778", "acme")
    await runtime.businesses.create(
        build.business(
            cipher,
            id="off",
            whatsapp_phone_number_ids=(),
            twilio_numbers=("+15550000777",),
            active=False,
        )
    )
    events = [
        *(build.inbound(f"u{n}", channel_id="nobody", contact=f"1555000{n}") for n in range(5)),
        build.inbound("i1", channel_id="+15550000777"),
        build.inbound("i2", channel_id="+15550000778"),
    ]
    outcomes = [await runtime.handle(e) for e in events]
    outcomes.append(await runtime.handle(events[0]))  # a redelivery
    assert outcomes == ["skipped_unowned_channel"] * 5 + [
        "skipped_inactive_business",
        "skipped_unknown_business",
        "skipped_unowned_channel",
    ]
    for collection in ("replies", "usage_events", "conversation_messages", "service_windows"):
        assert await db[collection].count_documents({}) == 0, collection
    assert fakes.sender.sent == []


async def test_business_cache_hit_and_expiry(runtime, fakes, build, cipher) -> None:
    await runtime.businesses.create(build.business(cipher))
    for i in range(3):
        await runtime.handle(build.inbound(f"c{i}"))
    assert (runtime.cache.hits, runtime.cache.misses) == (2, 1)
    fakes.clock.advance(301)
    await runtime.handle(build.inbound("c9"))
    assert runtime.cache.misses == 2


async def test_memory_survives_losing_redis(runtime, fakes, build, cipher, ai_settings) -> None:
    from redis.asyncio import Redis

    await runtime.businesses.create(build.business(cipher))
    await runtime.handle(build.inbound("m0", text="My name is Ada", seq=0))
    redis = Redis.from_url(ai_settings.redis.url.get_secret_value())
    keys = [k async for k in redis.scan_iter(f"{ai_settings.redis_namespace}:memory:*")]
    assert len(keys) == 1
    await redis.delete(*keys)
    await redis.aclose()
    await runtime.handle(build.inbound("m1", text="What is my name?", seq=1))
    assert [m.content for m in fakes.model.prompts[-1][1:]] == [
        "My name is Ada",
        "reply to: My name is Ada",
        "What is my name?",
    ]


async def test_published_flag_lives_in_redis_and_losing_it_only_repeats_the_event(
    runtime, fakes, build, cipher, ai_settings, db
) -> None:
    from redis.asyncio import Redis

    from switchboard.ai.adapters.mongo_replies import MongoUsage

    await runtime.businesses.create(build.business(cipher))
    assert await runtime.handle(build.inbound()) == "replied"
    assert await db["replies"].find_one({"_id": "wamid.in1|published"}) is None
    assert await runtime.handle(build.inbound()) == "duplicate"
    assert len(fakes.publisher.published) == 1  # the flag spared the after-send steps
    redis = Redis.from_url(ai_settings.redis.url.get_secret_value())
    await redis.delete(*[k async for k in redis.scan_iter(f"{ai_settings.redis_namespace}:*")])
    await redis.aclose()
    assert await runtime.handle(build.inbound()) == "duplicate"
    assert len(fakes.sender.sent) == 1  # never a second reply
    [(first, _), (again, _)] = fakes.publisher.published
    assert again.id == first.id  # the same event: consumers take it twice without harm
    [row] = await MongoUsage(db).daily("acme", None, None, None)
    assert row["replies"] == 1  # never a second count
    assert await runtime.handle(build.inbound()) == "duplicate"
    assert len(fakes.publisher.published) == 2  # flagged again


async def test_published_step_stored_by_an_earlier_version_is_honoured(
    runtime, fakes, build, cipher
) -> None:
    await runtime.businesses.create(build.business(cipher))
    ledger = runtime.ledger  # MongoDB only, as before the flag moved to Redis
    await ledger.claim("wamid.in1", "c", fakes.overrides().now())
    await ledger.store_reply("wamid.in1", "biz1", Reply(text="hi"))
    assert await ledger.begin_send("wamid.in1")
    assert await ledger.mark_sent("wamid.in1", "out-1", fakes.overrides().now())
    await ledger.mark_published("wamid.in1")
    assert await runtime.handle(build.inbound()) == "duplicate"
    assert fakes.sender.sent == [] and fakes.publisher.published == []
