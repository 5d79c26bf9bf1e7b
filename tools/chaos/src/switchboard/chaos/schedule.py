"""The fault schedule: named faults, each with a start offset and a duration.

Faults never overlap: each gets the traffic to itself for a while after it ends, so its time
to recover is its own. The provider simulator is never a target: its delivery records are the
ground truth the report is computed from.
"""

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final


class Kind(StrEnum):
    KILL = "kill"
    """kill -9 a service's process group; start it again after ``duration_s``."""
    FREEZE = "freeze"
    """SIGSTOP a service (frozen, not dead: connections stay open); SIGCONT after ``duration_s``."""
    KAFKA_DOWN = "kafka-down"
    """kill -9 every broker; start them again after ``duration_s``."""
    KILL_BROKER = "kill-broker"
    """In a cluster: kill -9 the broker leading most call.events partitions; start it again
    after ``duration_s``. No webhook may get a non-2xx answer meanwhile."""
    RESTART = "restart"
    """Stop a server (postgres, redis, ferretdb) with its script; start it after ``duration_s``."""
    DISK_FULL = "disk-full"
    """The ingress spool's disk filled up while the broker is down, for ``duration_s``."""
    POISON = "poison"
    """Poison records on every topic, each followed by a marker that must be stored in 5 s."""


@dataclass(frozen=True, slots=True)
class Fault:
    kind: Kind
    target: str = ""
    duration_s: float = 0.0
    at_s: float = 0.0
    """Offset from the start of the traffic."""

    @property
    def name(self) -> str:
        return f"{self.kind} {self.target}".strip()


SERVICES: Final = ("ingress", "history", "history-api", "dialer", "dialer-api", "ai", "ai-api")
"""Every service process the harness may break (the simulator is the referee)."""
SERVERS: Final = ("postgres", "redis", "ferretdb")
KILL_DOWN_S: Final = 1.0
FREEZE_S: Final = 10.0
POISON_S: Final = 10.0
"""Poison takes no downtime; this is the time its markers get before the next fault."""

SHORT: Final = (
    Fault(Kind.KILL, "ingress", KILL_DOWN_S),
    Fault(Kind.KILL, "history", KILL_DOWN_S),
    Fault(Kind.KAFKA_DOWN, "", 30.0),
    Fault(Kind.RESTART, "postgres", 5.0),
    Fault(Kind.POISON, "", POISON_S),
)
"""For ``make test``: a few minutes at a modest rate."""

FULL: Final = (
    Fault(Kind.KILL, "ingress", KILL_DOWN_S),
    Fault(Kind.FREEZE, "history", FREEZE_S),
    Fault(Kind.KAFKA_DOWN, "", 45.0),
    Fault(Kind.KILL, "ai", KILL_DOWN_S),
    Fault(Kind.RESTART, "postgres", 10.0),
    Fault(Kind.FREEZE, "ingress", FREEZE_S),
    Fault(Kind.KILL, "history", KILL_DOWN_S),
    Fault(Kind.RESTART, "redis", 10.0),
    Fault(Kind.FREEZE, "dialer", FREEZE_S),
    Fault(Kind.KILL, "dialer", KILL_DOWN_S),
    Fault(Kind.FREEZE, "ai", FREEZE_S),
    Fault(Kind.RESTART, "ferretdb", 10.0),
    Fault(Kind.KILL, "dialer-api", KILL_DOWN_S),
    Fault(Kind.DISK_FULL, "spool", 30.0),
    Fault(Kind.FREEZE, "history-api", FREEZE_S),
    Fault(Kind.KILL, "ai-api", KILL_DOWN_S),
    Fault(Kind.FREEZE, "dialer-api", FREEZE_S),
    Fault(Kind.KILL, "history-api", KILL_DOWN_S),
    Fault(Kind.FREEZE, "ai-api", FREEZE_S),
    Fault(Kind.POISON, "", POISON_S),
)
"""For ``make chaos``: every part, one after another; poison last (a consumer it stalls for
good would spoil every fault after it)."""

CALM: Final[tuple[Fault, ...]] = ()
"""No fault: the same stack and traffic, for the steady-state webhook → row latency at a rate
(with faults every ~45 s, the backlog a recovery drains reaches into the windows between them)."""

SCHEDULES: Final = {"short": SHORT, "full": FULL, "calm": CALM}
BROKER_KILL: Final = Fault(Kind.KILL_BROKER, "", 20.0)
"""Added second to either schedule when the stack runs a cluster."""


def schedule_for(name: str, brokers: int = 1) -> tuple[Fault, ...]:
    """The named schedule for a stack of ``brokers`` Kafka brokers."""
    faults = SCHEDULES[name]
    if brokers >= 3 and faults:
        faults = (faults[0], BROKER_KILL, *faults[1:])
    return faults


WARMUP_S: Final = 15.0
"""Traffic before the first fault: the outside-fault latency needs some."""
TAIL_S: Final = 15.0
MIN_GAP_S: Final = 15.0
"""Least quiet time after a fault before the next."""


def minimum_duration(faults: tuple[Fault, ...]) -> float:
    """The shortest traffic that fits ``faults`` with the least gap after each."""
    return WARMUP_S + TAIL_S + sum(f.duration_s + MIN_GAP_S for f in faults)


def layout(faults: tuple[Fault, ...], duration_s: float) -> list[Fault]:
    """``faults`` in order, spread evenly over ``duration_s`` of traffic; ValueError when it
    is too short for them."""
    need = minimum_duration(faults)
    if duration_s < need:
        raise ValueError(
            f"{duration_s:.0f} s of traffic is too short for this schedule: {need:.0f}"
        )
    if not faults:
        return []
    gap = (duration_s - WARMUP_S - TAIL_S - sum(f.duration_s for f in faults)) / len(faults)
    placed, at = [], WARMUP_S
    for fault in faults:
        placed.append(replace(fault, at_s=round(at, 1)))
        at += fault.duration_s + gap
    return placed
