"""What a chaos run does and how hard: one frozen object, built by the CLI or a test."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

CALLBACKS_PER_CALL: Final = 3.6
"""Status callbacks per simulated call (0.7 * 4 completed + 0.2 * 3 busy/no-answer + 0.1 * 2
failed, the simulator's default outcome mix)."""
EVENTS_PER_MESSAGE: Final = 4.0
"""Webhooks per inbound WhatsApp message the AI answers: the message, and the reply's sent,
delivered and read statuses."""


@dataclass(frozen=True, slots=True)
class Mix:
    """How the rate splits between the three kinds of traffic."""

    whatsapp_share: float = 0.02
    """Share of the events that belong to AI-answered WhatsApp messages (the AI path, with its
    model call and MongoDB writes, costs far more per event than a call callback)."""
    campaign_share: float = 0.02
    """Share of the events that belong to the dialer campaign's calls."""

    def calls_per_s(self, rate: float) -> float:
        rest = rate * (1 - self.whatsapp_share - self.campaign_share)
        return max(0.1, rest / CALLBACKS_PER_CALL)

    def messages_per_s(self, rate: float) -> float:
        return max(0.1, rate * self.whatsapp_share / EVENTS_PER_MESSAGE)

    def campaign_cps(self, rate: float) -> float:
        return max(0.2, rate * self.campaign_share / CALLBACKS_PER_CALL)


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    """One run: traffic rate and length, the fault schedule, where the stack lives."""

    root: Path
    """The repository (scripts/infra, scripts/local, bench/results, docs/)."""
    schedule: str = "short"
    rate: float = 150.0
    """Provider events per second (webhooks the simulator sends, duplicates not counted)."""
    duration_s: float = 200.0
    """How long traffic flows; the schedule's faults are spread over it."""
    local_dir: Path | None = None
    """The isolated stack's servers and logs (default ``<root>/.local/chaos``)."""
    mix: Mix = field(default_factory=Mix)
    duplicate_rate: float = 0.1
    out_of_order_rate: float = 0.1
    drop_final_rate: float = 0.01
    """Calls whose final callback is lost on purpose: the reconciler must close them."""
    sim_retries: int = 40
    """The simulator's retries of an unanswered webhook (backoff up to 1 s): a provider that
    keeps trying through a restart, as Meta does for days and Twilio does with overrides."""
    time_scale: float = 0.01
    """Simulated call seconds → real seconds: a call lasts about half a second."""
    reconcile_grace_s: float = 15.0
    reconcile_interval_s: float = 5.0
    window_tail_s: float = 10.0
    """Events first sent up to this long after a fault ended still count as inside it (the
    backlog it left behind)."""
    settle_timeout_s: float = 300.0
    """Longest wait after the traffic for the stores to catch up."""
    spool_mb: int = 256
    """Size of the tmpfs the ingress spool lives on (filled up by the disk-full fault)."""
    brokers: int = 1
    """Kafka brokers: 1, or 3 for a cluster (replication 3, min ISR 2) whose schedule also
    kills one broker under load."""
    write_results: bool = True
    """Write bench/results/chaos.json and docs/benchmarks.md (a test run does not)."""

    @property
    def stack_dir(self) -> Path:
        return self.local_dir or self.root / ".local" / "chaos"

    @property
    def calls(self) -> int:
        return max(1, round(self.mix.calls_per_s(self.rate) * self.duration_s))

    @property
    def messages(self) -> int:
        return max(1, round(self.mix.messages_per_s(self.rate) * self.duration_s))

    @property
    def contacts(self) -> int:
        return max(1, round(self.mix.campaign_cps(self.rate) * self.duration_s))
