"""The schedules: every part hit, faults laid out without overlap, too short refused."""

import itertools

import pytest

from switchboard.chaos.schedule import (
    FULL,
    SERVERS,
    SERVICES,
    SHORT,
    Kind,
    layout,
    minimum_duration,
)


def test_the_full_schedule_hits_every_part():
    hits = {(f.kind, f.target) for f in FULL}
    for service in SERVICES:
        assert (Kind.KILL, service) in hits and (Kind.FREEZE, service) in hits
    for server in SERVERS:
        assert (Kind.RESTART, server) in hits
    assert {Kind.KAFKA_DOWN, Kind.DISK_FULL, Kind.POISON} <= {f.kind for f in FULL}
    [kafka] = [f for f in FULL if f.kind is Kind.KAFKA_DOWN]
    assert 30 <= kafka.duration_s <= 60


def test_the_short_schedule_is_what_make_test_promises():
    assert [f.name for f in SHORT] == [
        "kill ingress",
        "kill history",
        "kafka-down",
        "restart postgres",
        "poison",
    ]
    [kafka] = [f for f in SHORT if f.kind is Kind.KAFKA_DOWN]
    assert kafka.duration_s == 30


@pytest.mark.parametrize("faults", [SHORT, FULL])
@pytest.mark.parametrize("extra", [0, 300])
def test_faults_never_overlap_and_fit_the_traffic(faults, extra):
    duration = minimum_duration(faults) + extra
    placed = layout(faults, duration)
    assert [f.name for f in placed] == [f.name for f in faults]
    for before, after in itertools.pairwise(placed):
        assert after.at_s >= before.at_s + before.duration_s + 14.9
    last = placed[-1]
    assert last.at_s + last.duration_s <= duration - 14.9


def test_a_duration_too_short_is_refused():
    with pytest.raises(ValueError, match="too short"):
        layout(SHORT, minimum_duration(SHORT) - 1)


def test_a_cluster_adds_the_broker_kill_second():
    from switchboard.chaos.schedule import BROKER_KILL, schedule_for

    assert schedule_for("full", 1) == FULL
    for name, faults in (("short", SHORT), ("full", FULL)):
        clustered = schedule_for(name, 3)
        assert clustered[1] == BROKER_KILL and clustered[1].kind is Kind.KILL_BROKER
        assert clustered[:1] + clustered[2:] == faults


def test_the_calm_schedule_has_no_fault_even_on_a_cluster():
    from switchboard.chaos.schedule import schedule_for

    assert layout(schedule_for("calm", brokers=3), 60) == []
