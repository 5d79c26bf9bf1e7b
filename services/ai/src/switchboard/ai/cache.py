"""Business lookups by tenant and channel id through TTL + LRU caches (``cachetools.TTLCache``).

The tenant is the one the control plane binds the channel to (the handler asks it first): an
entry answers only for that tenant, so a channel moved to another tenant is looked up again.

Decrypted tokens live in a cache of their own, bounded and keyed by business id and version,
so an updated token is never served from a stale entry and plaintexts are few and short-lived.

Channels without a business of their tenant are cached too ("no business here",
``unknown_ttl_s``): a number can receive tens of thousands of messages, and each would
otherwise cost a datastore lookup. The entry is dropped when a channel is bound
(:meth:`channels_bound`): by the worker's bindings watch when the admin API bound a channel to
a business (a marker it polls), and by the control plane's follower when ``control.config``
binds or moves a channel (:func:`forget_on_binding`).
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import structlog
from cachetools import TTLCache
from prometheus_client import Counter

from switchboard.ai.errors import StoreUnavailable
from switchboard.ai.models import Business, ProviderTokens
from switchboard.ai.repository import BindingsMarker, BusinessLookup
from switchboard.common.config import Channel, ConfigChange
from switchboard.common.crypto import Cipher

log = structlog.get_logger(__name__)

CACHE_LOOKUPS = Counter(
    "switchboard_ai_business_cache_total",
    "Business cache lookups by result (hit, miss, unknown_hit: a channel known to have no "
    "business).",
    ["result"],
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
        unknown_ttl_s: float = 60.0,
        unknown_max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._cipher = cipher
        self._businesses: TTLCache[str, Business] = TTLCache(max_entries, ttl_s, timer=clock)
        self._unknown: TTLCache[str, str] | None = (
            TTLCache(unknown_max_entries, unknown_ttl_s, timer=clock)
            if unknown_ttl_s > 0 and unknown_max_entries > 0
            else None
        )
        self._tokens: TTLCache[tuple[str, int], ProviderTokens] = TTLCache(
            token_max_entries, ttl_s, timer=clock
        )
        self._bound = 0
        """Counts :meth:`channels_bound` calls: a lookup that started before one does not
        cache its "no business" answer (it may predate the binding)."""
        self.hits = 0
        self.misses = 0

    async def by_channel(self, tenant: str, channel_id: str) -> Business | None:
        """The business of ``tenant`` answering on ``channel_id`` (entries are keyed by the
        channel and answer only for the tenant they were found for)."""
        business = self._businesses.get(channel_id)
        if business is not None and business.tenant == tenant:
            self.hits += 1
            CACHE_LOOKUPS.labels("hit").inc()
            return business
        if self._unknown is not None and self._unknown.get(channel_id) == tenant:
            self.hits += 1
            CACHE_LOOKUPS.labels("unknown_hit").inc()
            return None
        self.misses += 1
        CACHE_LOOKUPS.labels("miss").inc()
        bound_before = self._bound
        business = await self._lookup.by_channel(tenant, channel_id)
        if business is not None:
            self._businesses[channel_id] = business
        elif self._unknown is not None and self._bound == bound_before:
            self._businesses.pop(channel_id, None)
            self._unknown[channel_id] = tenant
        return business

    def channels_bound(self, channel_ids: Iterable[str] | None = None) -> None:
        """Forget "no business on this channel" for ``channel_ids`` (None: every channel):
        call it when channels are bound to a business, so their next message finds it."""
        self._bound += 1
        if self._unknown is None:
            return
        if channel_ids is None:
            self._unknown.clear()
            return
        for channel_id in channel_ids:
            self._unknown.pop(channel_id, None)

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


def forget_on_binding(cache: BusinessCache) -> Callable[[ConfigChange], None]:
    """A ``control.config`` listener (prefix ``channel/``): a channel bound, moved or unbound
    in the control plane is looked up afresh (its cached "no business" answered for the
    tenant it had)."""

    def changed(change: ConfigChange) -> None:
        for entity in (change.old, change.new):
            if isinstance(entity, Channel):
                cache.channels_bound([entity.id])

    return changed


class BindingsWatch:
    """Polls the marker the admin API moves whenever it binds channels (``marker``) and drops
    the cache's "no business" entries when it moved: a channel bound in the API is answered by
    the worker within ``interval_s``, not after ``unknown_ttl_s``. One ``_id`` read per
    interval."""

    def __init__(
        self,
        marker: BindingsMarker,
        cache: BusinessCache,
        *,
        interval_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._marker = marker
        self._cache = cache
        self._interval_s = interval_s
        self._sleep = sleep
        self._seen: str | None = None

    async def check(self) -> bool:
        """Read the marker once; True when it moved (the cache was told)."""
        token = await self._marker.bindings_token()
        moved = token != self._seen  # the first read too: whatever was cached before it
        self._seen = token
        if moved:
            log.info("channels were bound; forgetting channels without a business")
            self._cache.channels_bound()
        return moved

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check()
            except StoreUnavailable as exc:  # MongoDB away: the TTL still bounds staleness
                log.warning("reading the bindings marker failed", error=str(exc))
            await self._sleep(self._interval_s)


def token_context(business_id: str, field: str) -> str:
    """Associated data binding a sealed token to its business and field."""
    return f"business:{business_id}:{field}"
