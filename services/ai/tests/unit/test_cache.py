"""Business cache: hits, TTL expiry and LRU eviction on an injected clock; token cache; the
"no business on this channel" cache, dropped when channels are bound."""

import asyncio
import contextlib

from switchboard.ai.cache import BindingsWatch, BusinessCache, forget_on_binding
from switchboard.ai.errors import StoreUnavailable

from ..fakes import FakeClock, InMemoryConfig, InMemoryLookup


def make(build, clock, max_entries=1000, unknown_ttl_s=60.0):
    cipher = build.cipher()
    lookup = InMemoryLookup()
    for i in range(3):
        lookup.add(
            build.business(
                cipher, id=f"b{i}", whatsapp_phone_number_ids=(f"wa{i}",), twilio_numbers=()
            )
        )
    cache = BusinessCache(
        lookup,
        cipher,
        ttl_s=300,
        max_entries=max_entries,
        token_max_entries=2,
        unknown_ttl_s=unknown_ttl_s,
        clock=clock,
    )
    return cache, lookup


async def test_hit_then_expiry(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock)
    assert (await cache.by_channel("acme", "wa0")).id == "b0"
    assert (await cache.by_channel("acme", "wa0")).id == "b0"
    assert lookup.calls == 1
    assert (cache.hits, cache.misses) == (1, 1)
    clock.advance(299)
    await cache.by_channel("acme", "wa0")
    assert lookup.calls == 1
    clock.advance(2)
    await cache.by_channel("acme", "wa0")
    assert lookup.calls == 2  # expired after 300 s


async def test_lru_eviction(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock, max_entries=2, unknown_ttl_s=0)
    await cache.by_channel("acme", "wa0")
    await cache.by_channel("acme", "wa1")
    await cache.by_channel("acme", "wa0")  # wa0 is now most recent
    await cache.by_channel("acme", "wa2")  # evicts wa1
    calls = lookup.calls
    await cache.by_channel("acme", "wa0")
    assert lookup.calls == calls
    await cache.by_channel("acme", "wa1")
    assert lookup.calls == calls + 1
    assert await cache.by_channel("acme", "nope") is None
    assert await cache.by_channel("acme", "nope") is None
    assert lookup.calls == calls + 3  # unknown_ttl_s=0: "no business" is not remembered


async def test_no_business_is_remembered_for_its_ttl(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock, unknown_ttl_s=60)
    for _ in range(1000):  # a burst to a number nobody configured
        assert await cache.by_channel("acme", "nobody") is None
    assert lookup.calls == 1
    clock.advance(61)
    assert await cache.by_channel("acme", "nobody") is None
    assert lookup.calls == 2


async def test_binding_a_channel_drops_its_no_business_entry(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock)
    assert await cache.by_channel("acme", "new") is None
    assert await cache.by_channel("acme", "other") is None
    lookup.add(build.business(build.cipher(), id="b9", whatsapp_phone_number_ids=("new",)))
    assert await cache.by_channel("acme", "new") is None  # still remembered: nobody said
    cache.channels_bound(["new"])
    assert (await cache.by_channel("acme", "new")).id == "b9"
    calls = lookup.calls
    assert await cache.by_channel("acme", "other") is None  # the other channel is still remembered
    assert lookup.calls == calls
    cache.channels_bound()  # every channel (what the bindings watch does)
    assert await cache.by_channel("acme", "other") is None
    assert lookup.calls == calls + 1


async def test_a_lookup_overtaken_by_a_binding_does_not_cache_its_answer(build) -> None:
    """The lookup read "no business" before the binding was stored, and returns after the
    worker was told: caching its stale answer would hide the business for a whole TTL."""
    cipher = build.cipher()
    release = asyncio.Event()

    class SlowLookup(InMemoryLookup):
        async def by_channel(self, tenant, channel_id):
            answer = await super().by_channel(tenant, channel_id)
            await release.wait()
            return answer

    lookup = SlowLookup()
    cache = BusinessCache(lookup, cipher, ttl_s=300, max_entries=10, token_max_entries=2)
    slow = asyncio.create_task(cache.by_channel("acme", "new"))
    await asyncio.sleep(0)
    lookup.add(build.business(cipher, id="b9", whatsapp_phone_number_ids=("new",)))
    cache.channels_bound(["new"])
    release.set()
    assert await slow is None
    assert (await cache.by_channel("acme", "new")).id == "b9"


async def test_an_entry_answers_only_for_the_tenant_it_was_found_for(build) -> None:
    """A channel moved to another tenant in the control plane is looked up for that tenant:
    neither the business nor the "no business" entry of the first tenant answers for it."""
    cache, lookup = make(build, FakeClock())
    assert (await cache.by_channel("acme", "wa0")).id == "b0"
    assert await cache.by_channel("globex", "wa0") is None  # not acme's business
    assert await cache.by_channel("globex", "wa0") is None  # remembered for globex
    calls = lookup.calls
    assert (await cache.by_channel("acme", "wa0")).id == "b0"  # globex's miss is not acme's
    assert lookup.calls == calls + 1


async def test_a_control_plane_binding_drops_the_channels_no_business_entry(build) -> None:
    cache, lookup = make(build, FakeClock())
    config = InMemoryConfig()
    config.listen(forget_on_binding(cache), prefix="channel/")
    assert await cache.by_channel("acme", "77") is None
    lookup.add(build.business(build.cipher(), id="b9", whatsapp_phone_number_ids=("77",)))
    assert await cache.by_channel("acme", "77") is None  # remembered
    config.bind("whatsapp/77", "acme")  # control.config: the channel is (re)bound
    assert (await cache.by_channel("acme", "77")).id == "b9"


class Marker:
    def __init__(self) -> None:
        self.token: str | None = None
        self.down = False

    async def bindings_token(self) -> str | None:
        if self.down:
            raise StoreUnavailable("mongo down")
        return self.token


async def test_the_bindings_watch_drops_the_cache_when_the_marker_moves(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock)
    marker = Marker()
    watch = BindingsWatch(marker, cache, interval_s=1.0)
    await watch.check()
    assert await cache.by_channel("acme", "new") is None
    assert not await watch.check()  # nothing bound since
    lookup.add(build.business(build.cipher(), id="b9", whatsapp_phone_number_ids=("new",)))
    marker.token = "t1"  # the admin API bound a channel
    assert await watch.check()
    assert (await cache.by_channel("acme", "new")).id == "b9"


async def test_the_bindings_watch_keeps_polling_through_an_outage(build) -> None:
    cache, _ = make(build, FakeClock())
    marker = Marker()
    marker.down = True
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise asyncio.CancelledError

    watch = BindingsWatch(marker, cache, interval_s=2.0, sleep=sleep)
    with contextlib.suppress(asyncio.CancelledError):
        await watch.run_forever()
    assert sleeps == [2.0, 2.0, 2.0]


async def test_tokens_are_decrypted_once_per_business_version(build) -> None:
    cache, _ = make(build, FakeClock())
    business = await cache.by_channel("acme", "wa0")
    first = cache.tokens(business)
    assert first.whatsapp_access_token == "wa-secret-token"
    assert cache.tokens(business) is first
