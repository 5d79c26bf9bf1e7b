"""The simulator the harness starts has room for the rate asked: with a provider's default of
32 webhooks in flight the load generator, not the stack, would set the rate measured."""

from pathlib import Path

import pytest

from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.wiring import webhooks_in_flight


@pytest.mark.parametrize(("rate", "in_flight"), [(150.0, 32), (1000.0, 100), (2000.0, 200)])
def test_webhooks_in_flight_grow_with_the_rate(tmp_path: Path, rate: float, in_flight: int) -> None:
    assert webhooks_in_flight(ChaosOptions(root=tmp_path, rate=rate)) == in_flight
