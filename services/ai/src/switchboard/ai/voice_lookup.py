"""Which business answers a live call: the control plane says which tenant owns the channel,
and the business of *that* tenant that serves it answers.

A call names several channels (the Vapi phone number's id, the number itself, the assistant;
the ElevenLabs agent and the number): the first one bound to a tenant in the control plane
(``channel/<kind>/<id>`` on ``control.config``, followed live) and served by an active
business of that tenant answers. A channel bound to another tenant than the one the ingress
verified the request for is skipped (a tenant's secret does not reach another tenant's
business), as is a suspended tenant's. Nothing found: the call is *unowned*.

Lookups go through a TTL + LRU cache keyed by tenant and channel (a business changed through
the admin API is seen within ``ttl_s``); the control plane's binding is read on every call
(an in-memory dict), so an unbound or moved channel stops answering at once.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog
from cachetools import TTLCache
from prometheus_client import Counter

from switchboard.ai import owners
from switchboard.ai.models import Business
from switchboard.ai.owners import ConfigView

log = structlog.get_logger(__name__)
SKIPPED = Counter(
    "switchboard_ai_voice_channels_skipped_total",
    "Channels of a voice query not answered, by reason (unbound, other_tenant, "
    "tenant_suspended, no_business, inactive).",
    ["reason"],
)


__all__ = ["ConfigView", "Found", "VoiceBusinessLookup", "VoiceBusinesses"]


class VoiceBusinessLookup(Protocol):
    async def by_voice_channel(self, tenant: str, channel: str) -> Business | None: ...


@dataclass(frozen=True, slots=True)
class Found:
    business: Business
    channel: str
    """The channel that matched (``kind/id``)."""


class VoiceBusinesses:
    """Channel candidates → the business that answers (or None: unowned)."""

    def __init__(
        self,
        config: ConfigView,
        lookup: VoiceBusinessLookup,
        *,
        ttl_s: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._lookup = lookup
        self._cache: TTLCache[tuple[str, str], Business] = TTLCache(max_entries, ttl_s, timer=clock)

    def owner(self, channel: str) -> str | None:
        """The tenant the control plane binds ``channel`` (``kind/id``) to, if active."""
        found = owners.owner(self._config, channel)
        if found.reason == "tenant_suspended":
            SKIPPED.labels("tenant_suspended").inc()
        return found.tenant

    async def find(self, channels: Sequence[str], verified_tenant: str | None) -> Found | None:
        for channel in channels:
            tenant = self.owner(channel)
            if tenant is None:
                SKIPPED.labels("unbound").inc()
                continue
            if verified_tenant is not None and tenant != verified_tenant:
                SKIPPED.labels("other_tenant").inc()
                log.warning(
                    "voice channel bound to another tenant than the request's",
                    channel=channel,
                    bound_to=tenant,
                    verified_for=verified_tenant,
                )
                continue
            business = await self._business(tenant, channel)
            if business is None:
                SKIPPED.labels("no_business").inc()
                continue
            if not business.active:
                SKIPPED.labels("inactive").inc()
                continue
            return Found(business, channel)
        return None

    async def _business(self, tenant: str, channel: str) -> Business | None:
        key = (tenant, channel)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        business = await self._lookup.by_voice_channel(tenant, channel)
        if business is not None:  # unknown ones are not cached: a new business is found at once
            self._cache[key] = business
        return business
