"""KafkaSettings: a broker list and consistent replication settings."""

import pytest
from pydantic import ValidationError

from switchboard.common.settings import CommonSettings, KafkaSettings


def test_replication_defaults_to_the_brokers_own() -> None:
    settings = KafkaSettings()
    assert (settings.replication_factor, settings.min_insync_replicas) == (-1, -1)


def test_a_cluster_is_configured_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092,k3:9092")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__REPLICATION_FACTOR", "3")
    monkeypatch.setenv("SWITCHBOARD_KAFKA__MIN_INSYNC_REPLICAS", "2")
    kafka = CommonSettings().kafka
    assert kafka.brokers == ["k1:9092", "k2:9092", "k3:9092"]
    assert (kafka.replication_factor, kafka.min_insync_replicas) == (3, 2)


@pytest.mark.parametrize(
    ("replication_factor", "min_insync_replicas"), [(0, -1), (-1, 0), (2, 3), (-2, -1)]
)
def test_inconsistent_replication_is_refused(
    replication_factor: int, min_insync_replicas: int
) -> None:
    with pytest.raises(ValidationError):
        KafkaSettings(
            replication_factor=replication_factor, min_insync_replicas=min_insync_replicas
        )


def test_spaces_in_the_broker_list_are_dropped() -> None:
    servers = KafkaSettings(bootstrap_servers=" k1:9092, k2:9092 ,k3:9092,").bootstrap_servers
    assert servers == "k1:9092,k2:9092,k3:9092"
    with pytest.raises(ValidationError):
        KafkaSettings(bootstrap_servers=" , ")
