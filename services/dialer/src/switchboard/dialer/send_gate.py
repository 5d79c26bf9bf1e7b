"""The last step of pacing, inside one worker: sends whose slots a late event loop let pass
together go out spaced again.

The Redis schedule spaces every slot; a worker whose loop stalls (a busy box, a long query)
wakes with several slots due at once and would hand them to the carrier together. The gate
keeps each campaign's sends at least ``interval`` apart, so after a stall they catch up at a
bounded rate instead of in a burst. A healthy worker never waits at the gate: its slots are
already further apart than the interval.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable

CATCH_UP: float = 1.05
"""After a stall, sends catch up at most this much faster than the campaign's rate."""


class SendGate:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next: dict[Hashable, float] = {}

    async def wait_turn(self, key: Hashable, interval: float) -> None:
        """Return when this send is at least ``interval`` after the previous one of ``key``."""
        now = self._clock()
        turn = max(now, self._next.get(key, now))
        self._next[key] = turn + interval  # reserved before awaiting: no two share a turn
        if turn > now:
            await self._sleep(turn - now)
