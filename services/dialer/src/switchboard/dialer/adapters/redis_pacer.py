"""Global pacing in Redis at three levels, each a GCRA token bucket and an in-flight slot set
with leases: the tenant (its plan's calls/s and concurrent calls hold over all its campaigns
and accounts), the provider account, and the campaign. A call starts no sooner than the
slowest bucket allows (spacing = the largest of the three intervals) and takes a slot at every
level (free slots = the fewest of the three). Every decision is one Lua script, so replicas
never race, and the clock is Redis's own (``TIME``), so replicas need not agree on theirs.

Keys (``{p}`` = the configured prefix):
    {p}:tenant:{id}:tat     next start the tenant's bucket allows (ms, Redis clock)
    {p}:acct:{sid}:tat      the same for one provider account
    {p}:camp:{id}:tat       the same for one campaign
    {p}:acct:{sid}:factor   rate factor after a provider 429 (expires back to 1); it slows the
                            account (and its campaigns), not the tenant's other accounts
    {p}:tenant:{id}:slots   zset attempt id → lease expiry (ms); expired members are free
    {p}:acct:{sid}:slots    the same for one provider account
    {p}:camp:{id}:slots     the same for one campaign
"""

from typing import Any, Final
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.common.errors import ErrorTable, translated
from switchboard.dialer.errors import StoreUnavailable
from switchboard.dialer.repository import Lane

_NOW: Final = "local t = redis.call('TIME'); local now = t[1] * 1000 + t[2] / 1000\n"

# KEYS: the slot sets (tenant, account, campaign); ARGV: lease, one cap per key, then the ids.
_ACQUIRE: Final = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
local free = math.huge
for k = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now)
  free = math.min(free, tonumber(ARGV[k + 1]) - redis.call('ZCARD', KEYS[k]))
end
local granted = {}
for i = #KEYS + 2, #ARGV do
  if #granted >= free then break end
  for k = 1, #KEYS do redis.call('ZADD', KEYS[k], now + lease, ARGV[i]) end
  granted[#granted + 1] = ARGV[i]
end
return granted
"""
)

# KEYS: the slot sets; ARGV: lease, attempt id.
_EXTEND: Final = (
    _NOW
    + """
for k = 1, #KEYS do redis.call('ZADD', KEYS[k], now + tonumber(ARGV[1]), ARGV[2]) end
return 1
"""
)

# KEYS: the buckets (tenant, account, campaign), the account's factor; ARGV: count, one
# interval (ms) per bucket, tolerance (ms).
_SCHEDULE: Final = (
    _NOW
    + """
local count = tonumber(ARGV[1])
local f = tonumber(redis.call('GET', KEYS[4]) or '1')
-- A 429 slows the account and its campaign; the tenant's other accounts keep their pace.
local interval = {tonumber(ARGV[2]), tonumber(ARGV[3]) / f, tonumber(ARGV[4]) / f}
local spacing = math.max(interval[1], interval[2], interval[3])
-- A start up to ARGV[5] ms in the past is allowed: a worker that woke late catches up on the
-- slots it missed instead of losing them (the long-run rate stays exact).
local start = now - tonumber(ARGV[5])
for k = 1, 3 do start = math.max(start, tonumber(redis.call('GET', KEYS[k]) or '0')) end
local last = start + (count - 1) * spacing
for k = 1, 3 do
  local tat = last + interval[k]
  redis.call('SET', KEYS[k], tostring(tat), 'PX', math.floor(tat - now) + 60000)
end
return {tostring(math.max(0, start - now)), tostring(spacing)}
"""
)

_THROTTLE: Final = (
    _NOW
    + """
local f = tonumber(redis.call('GET', KEYS[2]) or '1')
redis.call('SET', KEYS[2], tostring(math.max(f / 2, tonumber(ARGV[3]))), 'PX', ARGV[2])
local tat = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0')) + tonumber(ARGV[1])
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.floor(tat - now) + 60000)
return 1
"""
)

_COUNT: Final = _NOW + "return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')\n"

MIN_FACTOR: Final = 0.05
REDIS_ERRORS: Final[ErrorTable] = (((RedisError, OSError), StoreUnavailable),)
"""Any Redis failure is an outage (:func:`~switchboard.common.errors.translated`)."""


class RedisPacer:
    """The :class:`~switchboard.dialer.repository.Pacer` over Redis."""

    def __init__(
        self,
        client: "aioredis.Redis",
        prefix: str,
        *,
        claim_lease_s: float,
        placed_lease_s: float,
        throttle_backoff_s: float,
        throttle_recover_s: float,
        tolerance_s: float = 0.0,
    ) -> None:
        self._r = client
        self._p = prefix
        self._claim_lease_ms = int(claim_lease_s * 1000)
        self._placed_lease_ms = int(placed_lease_s * 1000)
        self._backoff_ms = int(throttle_backoff_s * 1000)
        self._recover_ms = int(throttle_recover_s * 1000)
        self._tolerance_ms = tolerance_s * 1000
        self._acquire = client.register_script(_ACQUIRE)
        self._extend = client.register_script(_EXTEND)
        self._schedule = client.register_script(_SCHEDULE)
        self._throttle = client.register_script(_THROTTLE)
        self._count = client.register_script(_COUNT)

    def _tenant(self, tenant_id: str, what: str) -> str:
        return f"{self._p}:tenant:{tenant_id}:{what}"

    def _acct(self, sid: str, what: str) -> str:
        return f"{self._p}:acct:{sid}:{what}"

    def _camp(self, campaign_id: UUID, what: str) -> str:
        return f"{self._p}:camp:{campaign_id}:{what}"

    def _levels(self, lane: Lane, what: str) -> list[str]:
        """The tenant's, the account's and the campaign's key for ``what``, in that order."""
        return [
            self._tenant(lane.tenant_id, what),
            self._acct(lane.account_sid, what),
            self._camp(lane.campaign_id, what),
        ]

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        with translated("redis", REDIS_ERRORS):
            return await script(keys=keys, args=args)

    async def acquire_slots(
        self, lane: Lane, ids: list[UUID], *, tenant_cap: int, account_cap: int, cap: int
    ) -> list[UUID]:
        if not ids:
            return []
        granted = await self._run(
            self._acquire,
            self._levels(lane, "slots"),
            [self._claim_lease_ms, tenant_cap, account_cap, cap, *(str(i) for i in ids)],
        )
        return [UUID(g.decode() if isinstance(g, bytes) else g) for g in granted]

    async def release_slots(self, lane: Lane, ids: list[UUID]) -> None:
        if not ids:
            return
        members = [str(i) for i in ids]
        with translated("redis", REDIS_ERRORS):
            async with self._r.pipeline(transaction=True) as pipe:
                for key in self._levels(lane, "slots"):
                    pipe.zrem(key, *members)
                await pipe.execute()

    async def extend_slot(self, lane: Lane, attempt_id: UUID) -> None:
        await self._run(
            self._extend, self._levels(lane, "slots"), [self._placed_lease_ms, str(attempt_id)]
        )

    async def schedule(
        self, lane: Lane, count: int, *, tenant_cps: float, account_cps: float, cps: float
    ) -> tuple[float, float]:
        wait_ms, spacing_ms = await self._run(
            self._schedule,
            [*self._levels(lane, "tat"), self._acct(lane.account_sid, "factor")],
            [count, 1000.0 / tenant_cps, 1000.0 / account_cps, 1000.0 / cps, self._tolerance_ms],
        )
        return float(wait_ms) / 1000, float(spacing_ms) / 1000

    async def throttled(self, account_sid: str) -> None:
        await self._run(
            self._throttle,
            [self._acct(account_sid, "tat"), self._acct(account_sid, "factor")],
            [self._backoff_ms, self._recover_ms, MIN_FACTOR],
        )

    async def in_flight(self, account_sid: str, campaign_id: UUID | None = None) -> int:
        key = (
            self._camp(campaign_id, "slots")
            if campaign_id is not None
            else self._acct(account_sid, "slots")
        )
        return int(await self._run(self._count, [key], []))

    async def tenant_in_flight(self, tenant_id: str) -> int:
        return int(await self._run(self._count, [self._tenant(tenant_id, "slots")], []))
