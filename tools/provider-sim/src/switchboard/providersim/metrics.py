"""The simulator's /metrics: what it did (its counters: webhooks sent and acknowledged per kind,
model requests, ...) and its calls by status, read from its state at scrape time.

A registry of its own, not the process default: tests run the simulator in-process beside the
services, whose metrics are not the simulator's."""

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from switchboard.providersim.state import SimState


class SimCollector(Collector):
    def __init__(self, state: SimState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        done = CounterMetricFamily(
            "switchboard_sim_events",
            "What the simulator did, by kind (webhook.sent, <kind>.acknowledged, "
            "openai.chat.requests, ...).",
            labels=["kind"],
        )
        for kind, count in sorted(self._state.counters.items()):
            done.add_metric([kind], count)
        yield done
        calls = GaugeMetricFamily(
            "switchboard_sim_calls", "Simulated Twilio calls by status.", labels=["status"]
        )
        for status, count in sorted(Counter(c.status for c in self._state.calls.values()).items()):
            calls.add_metric([status], count)
        yield calls


def sim_registry(state: SimState) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SimCollector(state))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
