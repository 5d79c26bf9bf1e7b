"""The worker's background loops on the real Kafka, PostgreSQL and Redis (provider faked): a
loop that fails unexpectedly is restarted, and ``/ready`` names it while it is down."""

from datetime import UTC, datetime

import pytest
from litestar.testing import AsyncTestClient

from switchboard.common.supervise import LOOP_RESTARTS
from switchboard.common.testing import eventually, unique
from switchboard.dialer.app import create_worker

pytestmark = pytest.mark.integration


class BreakableClock:
    """The real time, or an error no loop expects while ``broken``."""

    broken = False

    def __call__(self) -> datetime:
        if self.broken:
            raise RuntimeError("the clock broke (test)")
        return datetime.now(UTC)


async def _ready(client) -> tuple[int, dict[str, bool]]:
    response = await client.get("/ready")
    return response.status_code, response.json()["checks"]


async def test_a_failed_loop_is_restarted_and_ready_names_it_while_down(
    settings, placer, config
) -> None:
    settings.consumer.group_id = unique("dialer_test")
    settings.consumer.auto_offset_reset = "latest"
    settings.worker.recovery_interval_s = 0.05
    clock = BreakableClock()
    app = create_worker(settings, placer=placer, config=config, clock=clock)
    restarts = LOOP_RESTARTS.labels("dialer", "recovery")
    async with AsyncTestClient(app=app) as client:

        async def ready() -> bool:
            status, checks = await _ready(client)
            return status == 200 and all(checks.values())

        await eventually(ready, timeout_s=60)
        _, checks = await _ready(client)
        assert {"postgres", "kafka", "redis", "loop:dial", "loop:recovery"} <= set(checks)
        before = restarts._value.get()

        clock.broken = True  # recovery reads the clock first thing on every pass

        async def recovery_down() -> bool:
            status, checks = await _ready(client)
            return status == 503 and checks["loop:recovery"] is False

        await eventually(recovery_down, timeout_s=60, interval_s=0.05)
        _, checks = await _ready(client)
        assert checks["postgres"] and checks["redis"] and checks["loop:dial"]
        assert checks["loop:outbox-relay"]

        clock.broken = False
        await eventually(ready, timeout_s=90, interval_s=0.2)
        assert restarts._value.get() > before
