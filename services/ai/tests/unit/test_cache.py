"""Business cache: hits, TTL expiry and LRU eviction on an injected clock; token cache."""

from switchboard.ai.cache import BusinessCache

from ..fakes import FakeClock, InMemoryLookup


def make(build, clock, max_entries=1000):
    cipher = build.cipher()
    lookup = InMemoryLookup()
    for i in range(3):
        lookup.add(
            build.business(
                cipher, id=f"b{i}", whatsapp_phone_number_ids=(f"wa{i}",), twilio_numbers=()
            )
        )
    cache = BusinessCache(
        lookup, cipher, ttl_s=300, max_entries=max_entries, token_max_entries=2, clock=clock
    )
    return cache, lookup


async def test_hit_then_expiry(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock)
    assert (await cache.by_channel("wa0")).id == "b0"
    assert (await cache.by_channel("wa0")).id == "b0"
    assert lookup.calls == 1
    assert (cache.hits, cache.misses) == (1, 1)
    clock.advance(299)
    await cache.by_channel("wa0")
    assert lookup.calls == 1
    clock.advance(2)
    await cache.by_channel("wa0")
    assert lookup.calls == 2  # expired after 300 s


async def test_lru_eviction_and_unknown_not_cached(build) -> None:
    clock = FakeClock()
    cache, lookup = make(build, clock, max_entries=2)
    await cache.by_channel("wa0")
    await cache.by_channel("wa1")
    await cache.by_channel("wa0")  # wa0 is now most recent
    await cache.by_channel("wa2")  # evicts wa1
    calls = lookup.calls
    await cache.by_channel("wa0")
    assert lookup.calls == calls
    await cache.by_channel("wa1")
    assert lookup.calls == calls + 1
    assert await cache.by_channel("nope") is None
    assert await cache.by_channel("nope") is None
    assert lookup.calls == calls + 3


async def test_tokens_are_decrypted_once_per_business_version(build) -> None:
    cache, _ = make(build, FakeClock())
    business = await cache.by_channel("wa0")
    first = cache.tokens(business)
    assert first.whatsapp_access_token == "wa-secret-token"
    assert cache.tokens(business) is first
