"""Global pacing in Redis: one GCRA token bucket per provider account (and per campaign) and
in-flight slot sets with leases. Every decision is one Lua script, so replicas never race, and
the clock is Redis's own (``TIME``), so replicas need not agree on theirs.

Keys (``{p}`` = the configured prefix):
    {p}:acct:{sid}:tat      next start the account's bucket allows (ms, Redis clock)
    {p}:camp:{id}:tat       the same for one campaign
    {p}:acct:{sid}:factor   rate factor after a provider 429 (expires back to 1)
    {p}:acct:{sid}:slots    zset attempt id → lease expiry (ms); expired members are free
    {p}:camp:{id}:slots     the same for one campaign
"""

from typing import Any, Final
from uuid import UUID

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchboard.common.errors import ErrorTable, translated
from switchboard.dialer.errors import StoreUnavailable

_NOW: Final = "local t = redis.call('TIME'); local now = t[1] * 1000 + t[2] / 1000\n"

_ACQUIRE: Final = (
    _NOW
    + """
local lease = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local free = math.min(tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1]),
                      tonumber(ARGV[3]) - redis.call('ZCARD', KEYS[2]))
local granted = {}
for i = 4, #ARGV do
  if #granted >= free then break end
  redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
  redis.call('ZADD', KEYS[2], now + lease, ARGV[i])
  granted[#granted + 1] = ARGV[i]
end
return granted
"""
)

_EXTEND: Final = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), ARGV[2])
return 1
"""
)

_SCHEDULE: Final = (
    _NOW
    + """
local count = tonumber(ARGV[1])
local f = tonumber(redis.call('GET', KEYS[3]) or '1')
local ai = tonumber(ARGV[2]) / f
local ci = tonumber(ARGV[3]) / f
local spacing = math.max(ai, ci)
-- A start up to ARGV[4] ms in the past is allowed: a worker that woke late catches up on the
-- slots it missed instead of losing them (the long-run rate stays exact).
local start = math.max(now - tonumber(ARGV[4]), tonumber(redis.call('GET', KEYS[1]) or '0'),
                       tonumber(redis.call('GET', KEYS[2]) or '0'))
local last = start + (count - 1) * spacing
local ttl = math.floor(last - now) + 60000
redis.call('SET', KEYS[1], tostring(last + ai), 'PX', ttl)
redis.call('SET', KEYS[2], tostring(last + ci), 'PX', ttl)
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

    def _acct(self, sid: str, what: str) -> str:
        return f"{self._p}:acct:{sid}:{what}"

    def _camp(self, campaign_id: UUID, what: str) -> str:
        return f"{self._p}:camp:{campaign_id}:{what}"

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        with translated("redis", REDIS_ERRORS):
            return await script(keys=keys, args=args)

    async def acquire_slots(
        self, account_sid: str, campaign_id: UUID, ids: list[UUID], account_cap: int, cap: int
    ) -> list[UUID]:
        if not ids:
            return []
        granted = await self._run(
            self._acquire,
            [self._acct(account_sid, "slots"), self._camp(campaign_id, "slots")],
            [self._claim_lease_ms, account_cap, cap, *(str(i) for i in ids)],
        )
        return [UUID(g.decode() if isinstance(g, bytes) else g) for g in granted]

    async def release_slots(self, account_sid: str, campaign_id: UUID, ids: list[UUID]) -> None:
        if not ids:
            return
        members = [str(i) for i in ids]
        with translated("redis", REDIS_ERRORS):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.zrem(self._acct(account_sid, "slots"), *members)
                pipe.zrem(self._camp(campaign_id, "slots"), *members)
                await pipe.execute()

    async def extend_slot(self, account_sid: str, campaign_id: UUID, attempt_id: UUID) -> None:
        await self._run(
            self._extend,
            [self._acct(account_sid, "slots"), self._camp(campaign_id, "slots")],
            [self._placed_lease_ms, str(attempt_id)],
        )

    async def schedule(
        self, account_sid: str, campaign_id: UUID, count: int, account_cps: float, cps: float
    ) -> tuple[float, float]:
        wait_ms, spacing_ms = await self._run(
            self._schedule,
            [
                self._acct(account_sid, "tat"),
                self._camp(campaign_id, "tat"),
                self._acct(account_sid, "factor"),
            ],
            [count, 1000.0 / account_cps, 1000.0 / cps, self._tolerance_ms],
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
