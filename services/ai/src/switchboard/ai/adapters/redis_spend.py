"""Monthly spend per business and daily spend per tenant (its plan's cap): Redis counters in
front of MongoDB's ``usage_events`` rows.

Every message of a business with a spend limit reads it, so it lives in Redis: rebuilt from
MongoDB when the key is missing (an ``_id`` lookup of the month's marker; the rows are summed
only when the marker exists, i.e. after losing Redis mid-month),
then increased atomically (``INCRBYFLOAT``, only while the key exists) by every counted reply,
on every replica. MongoDB stays the durable copy: each reply's row is inserted before the
counter moves, so losing Redis loses nothing but one re-sum.
"""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Final

from cachetools import LRUCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

from switchboard.ai.adapters.mongo_replies import MongoUsage
from switchboard.ai.errors import StoreUnavailable
from switchboard.ai.models import Business, Reply

KEY_TTL_S: Final = 40 * 24 * 3600
_INCR_IF_EXISTS: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
end
return false
"""


class RedisSpend:
    """:class:`~switchboard.ai.repository.UsageStore` with the month's spend cached in Redis."""

    def __init__(
        self,
        usage: MongoUsage,
        redis: "Redis",
        prefix: str = "switchboard:ai:spend",
        *,
        marked_max_entries: int = 10_000,
    ):
        self._usage = usage
        self._redis = redis
        self._prefix = prefix
        self._incr = redis.register_script(_INCR_IF_EXISTS)
        # Business-months whose MongoDB marker this process has written: later rows skip it.
        self._marked: LRUCache[tuple[str, str], bool] = LRUCache(marked_max_entries)

    def _key(self, business_id: str, month: str) -> str:
        return f"{self._prefix}:{business_id}:{month}"

    def _tenant_key(self, tenant: str, day: str) -> str:
        return f"{self._prefix}:tenant:{tenant}:{day}"

    async def add(self, business: Business, day: date, reply: Reply, *, counted_key: str) -> None:
        marked = (business.id, day.isoformat()[:7])
        counted = await self._usage.add(
            business, day, reply, counted_key=counted_key, mark=marked not in self._marked
        )
        self._marked[marked] = True
        if not counted:
            return  # counted before: the Redis sum has it too
        if reply.cost_usd:
            keys = (
                self._key(business.id, day.isoformat()[:7]),
                self._tenant_key(business.tenant, day.isoformat()),
            )
            try:
                for key in keys:
                    await self._incr(keys=[key], args=[reply.cost_usd])
            except (RedisError, OSError) as exc:
                raise StoreUnavailable(f"counting spend failed: {exc!r}") from exc

    async def month_cost(self, business_id: str, month: str) -> float:
        return await self._cached(
            self._key(business_id, month), lambda: self._usage.month_cost(business_id, month)
        )

    async def tenant_day_cost(self, tenant: str, day: str) -> float:
        return await self._cached(
            self._tenant_key(tenant, day), lambda: self._usage.tenant_day_cost(tenant, day)
        )

    async def _cached(self, key: str, total_of: Callable[[], Awaitable[float]]) -> float:
        """The counter at ``key``, rebuilt from MongoDB when Redis does not have it."""
        try:
            cached = await self._redis.get(key)
            if cached is not None:
                return float(cached)
            total = await total_of()
            # NX: a concurrent reader may have set it already (and increments since).
            await self._redis.set(key, repr(total), ex=KEY_TTL_S, nx=True)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"reading spend failed: {exc!r}") from exc
        return total
