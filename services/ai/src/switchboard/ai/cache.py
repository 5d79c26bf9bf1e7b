"""Business lookups by channel id through TTL + LRU caches (``cachetools.TTLCache``).

Decrypted tokens live in a cache of their own, bounded and keyed by business id and version,
so an updated token is never served from a stale entry and plaintexts are few and short-lived.
"""

import time
from collections.abc import Callable

from cachetools import TTLCache
from prometheus_client import Counter

from switchboard.ai.models import Business, ProviderTokens
from switchboard.ai.repository import BusinessLookup
from switchboard.common.crypto import Cipher

CACHE_LOOKUPS = Counter(
    "switchboard_ai_business_cache_total", "Business cache lookups by result.", ["result"]
)


class BusinessCache:
    """``by_channel`` through a TTL + LRU cache; misses go to ``lookup``."""

    def __init__(
        self,
        lookup: BusinessLookup,
        cipher: Cipher,
        *,
        ttl_s: float,
        max_entries: int,
        token_max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._cipher = cipher
        self._businesses: TTLCache[str, Business] = TTLCache(max_entries, ttl_s, timer=clock)
        self._tokens: TTLCache[tuple[str, int], ProviderTokens] = TTLCache(
            token_max_entries, ttl_s, timer=clock
        )
        self.hits = 0
        self.misses = 0

    async def by_channel(self, channel_id: str) -> Business | None:
        business = self._businesses.get(channel_id)
        if business is not None:
            self.hits += 1
            CACHE_LOOKUPS.labels("hit").inc()
            return business
        self.misses += 1
        CACHE_LOOKUPS.labels("miss").inc()
        business = await self._lookup.by_channel(channel_id)
        if business is not None:
            # Unknown channels are not cached: a business created a moment later is found.
            self._businesses[channel_id] = business
        return business

    def tokens(self, business: Business) -> ProviderTokens:
        """The business's decrypted tokens (cached per business version)."""
        key = (business.id, business.version)
        cached = self._tokens.get(key)
        if cached is not None:
            return cached
        tokens = ProviderTokens(
            whatsapp_access_token=self._cipher.open(
                business.whatsapp_token, token_context(business.id, "whatsapp")
            )
            if business.whatsapp_token
            else None,
            twilio_auth_token=self._cipher.open(
                business.twilio_token, token_context(business.id, "twilio")
            )
            if business.twilio_token
            else None,
        )
        self._tokens[key] = tokens
        return tokens

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def token_context(business_id: str, field: str) -> str:
    """Associated data binding a sealed token to its business and field."""
    return f"business:{business_id}:{field}"
