"""Fixtures shared by every test folder: the local servers started by scripts/infra."""

import pytest

from switchboard.common.settings import CommonSettings, KafkaSettings, PostgresSettings


@pytest.fixture(scope="session")
def common_settings() -> CommonSettings:
    """Settings from the environment (defaults match scripts/infra's ports)."""
    return CommonSettings()


@pytest.fixture(scope="session")
def kafka_settings(common_settings: CommonSettings) -> KafkaSettings:
    return common_settings.kafka


@pytest.fixture(scope="session")
def pg_settings(common_settings: CommonSettings) -> PostgresSettings:
    return common_settings.postgres
