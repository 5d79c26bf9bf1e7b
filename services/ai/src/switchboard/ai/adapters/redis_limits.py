"""Per-business rate limits in Redis: a fixed one-minute window, counted atomically."""

from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from switchboard.ai.errors import StoreUnavailable

WINDOW_S: Final = 60


class RedisRateLimiter:
    """``INCR`` + ``EXPIRE`` in one MULTI/EXEC: every replica shares the same counter."""

    def __init__(self, redis: "Redis", prefix: str = "switchboard:ai:rate") -> None:
        self._redis = redis
        self._prefix = prefix

    async def allow(self, business_id: str, per_minute: int, now: float) -> bool:
        window = int(now // WINDOW_S)
        key = f"{self._prefix}:{business_id}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_S * 2)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"rate limit check failed: {exc!r}") from exc
        return int(count) <= per_minute

    async def ping(self) -> bool:
        return bool(await self._redis.ping())
