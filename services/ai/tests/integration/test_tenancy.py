"""The tenant comes from the channel, on the real FerretDB, Redis and Kafka: the worker follows
a ``control.config`` topic of the test's own and answers a message only with a business of the
tenant that owns the channel it arrived on (issue #15: an inbound message on B's channel is
never answered, stored or billed under A)."""

from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from switchboard.ai.app import Overrides, Runtime, open_runtime
from switchboard.ai.settings import AiSettings
from switchboard.common.config import Channel, ConfigSettings, ModelPrice, PlanLimits, Tenant
from switchboard.common.config.writer import ConfigWriter
from switchboard.common.testing import eventually, unique

from ..fakes import fixed_now

pytestmark = pytest.mark.integration
NUMBER = "1065550001"  # acme's WhatsApp phone_number_id (build.wa_id)


@pytest.fixture
def settings(ai_settings: AiSettings) -> AiSettings:
    config = ConfigSettings(topic=unique("config"), poll_timeout_ms=200)
    return ai_settings.model_copy(update={"config": config})


@pytest.fixture
async def writer(settings: AiSettings) -> AsyncIterator[ConfigWriter]:
    async with ConfigWriter(settings.kafka, settings.config) as w:
        await w.put(
            Tenant(
                id="acme",
                name="Acme",
                limits=PlanLimits(allowed_models=("gpt-test",), spend_per_day_usd=Decimal(1000)),
            ),
            ModelPrice(id="gpt-test", input_per_1k_usd=Decimal(1), output_per_1k_usd=Decimal(2)),
            Tenant(id="globex", name="Globex", limits=PlanLimits(allowed_models=("gpt-test",))),
            Channel(kind="whatsapp", id=NUMBER, tenant="acme", account_id="app-1", waba_id="1"),
        )
        yield w


@pytest.fixture
async def followed(settings, db, fakes, writer) -> AsyncIterator[Runtime]:
    """A runtime following the real topic (no config override)."""
    overrides = Overrides(
        model=fakes.model,
        embedder=fakes.embedder,
        sender=fakes.sender,
        publisher=fakes.publisher,
        clock=fakes.clock,
        now=fixed_now,
    )
    async with open_runtime(settings, overrides=overrides) as rt:
        await eventually(lambda: _ready(rt), timeout_s=60)
        yield rt


async def _ready(rt: Runtime) -> bool:
    return rt.config.ready and rt.config.get(f"channel/whatsapp/{NUMBER}") is not None


async def _nothing_written(db) -> None:
    for collection in ("replies", "usage_events", "conversation_messages"):
        assert await db[collection].count_documents({}) == 0, collection


async def test_a_message_on_acmes_channel_is_never_answered_under_globex(
    followed, db, fakes, build, cipher, writer
) -> None:
    # globex's business lists acme's number (stored directly: the admin API refuses it now,
    # but such a route may predate the control plane).
    await followed.businesses.create(build.business(cipher, id="intruder", tenant="globex"))
    assert await followed.handle(build.inbound("m1")) == "skipped_unknown_business"
    # The event's tenant does not pick the business either: globex is not the channel's owner.
    forged = replace(build.inbound("m2"), tenant="globex")
    assert await followed.handle(forged) == "skipped_other_tenant"
    await _nothing_written(db)
    assert fakes.sender.sent == [] and fakes.publisher.published == []
    assert fakes.model.calls == []

    # acme's own business on its number answers, and is billed under acme.
    acme = build.business(
        cipher, id="acme-biz", whatsapp_phone_number_ids=(NUMBER,), twilio_numbers=()
    )
    await followed.businesses.create(acme)
    followed.cache.channels_bound([NUMBER])  # what the bindings watch does after the API
    assert await followed.handle(build.inbound("m3")) == "replied"
    [(event, _)] = fakes.publisher.published
    assert (event.tenant, event.data.business_id) == ("acme", "acme-biz")
    usage = await db["usage_events"].find({"marker": {"$exists": False}}).to_list(None)
    assert [(u["tenant"], u["business_id"]) for u in usage] == [("acme", "acme-biz")]

    # Moving the number to globex in the control plane takes effect with no restart: acme's
    # business stops answering it at once, and globex's (stored before) answers globex's events.
    await writer.put(
        Channel(kind="whatsapp", id=NUMBER, tenant="globex", account_id="app-1", waba_id="1")
    )

    async def moved() -> bool:
        bound = followed.config.get(f"channel/whatsapp/{NUMBER}")
        return isinstance(bound, Channel) and bound.tenant == "globex"

    await eventually(moved, timeout_s=30)
    assert await followed.handle(build.inbound("m4")) == "skipped_other_tenant"
    globex_event = replace(build.inbound("m5"), tenant="globex")
    assert await followed.handle(globex_event) == "replied"
    assert fakes.publisher.published[-1][0].data.business_id == "intruder"


async def test_a_channel_nobody_owns_costs_no_datastore_read(followed, db, build) -> None:
    misses = followed.cache.misses
    for n in range(20):
        outcome = await followed.handle(build.inbound(f"u{n}", channel_id="1065559999"))
        assert outcome == "skipped_unowned_channel"
    assert followed.cache.misses == misses
    await _nothing_written(db)


async def test_the_plans_daily_cap_holds_across_businesses_and_redis_loss(
    followed, db, fakes, build, cipher, writer, ai_settings
) -> None:
    """The platform's cap per tenant and UTC day, from the plan on control.config, counted
    over all the tenant's businesses in Redis (rebuilt from MongoDB's usage rows when Redis
    loses it) and changed live by the operator; a business's own limit of 0 does not lift it."""
    acme = build.business(cipher, id="a1", whatsapp_phone_number_ids=(NUMBER,), twilio_numbers=())
    await followed.businesses.create(acme)
    assert await followed.handle(build.inbound("c1")) == "replied"
    spent = fakes.publisher.published[-1][0].data.cost_usd
    assert spent > 0  # at the operator's price from the topic
    await writer.put(
        Tenant(
            id="acme",
            name="Acme",
            limits=PlanLimits(allowed_models=("gpt-test",), spend_per_day_usd=Decimal(str(spent))),
        )
    )

    async def lowered() -> bool:
        tenant = followed.config.get("tenant/acme")
        return isinstance(tenant, Tenant) and tenant.limits.spend_per_day_usd == Decimal(str(spent))

    await eventually(lowered, timeout_s=30)
    assert await followed.handle(build.inbound("c2")) == "fallback"
    redis = Redis.from_url(ai_settings.redis.url.get_secret_value())
    keys = [k async for k in redis.scan_iter(f"{ai_settings.redis_namespace}:spend:*")]
    await redis.delete(*keys)  # Redis lost the counters: rebuilt from the usage rows
    await redis.aclose()
    assert await followed.handle(build.inbound("c3")) == "fallback"
    assert len(fakes.model.calls) == 1
