"""Every service starts following control.config the same way: no distribution ring where it
needs one → it refuses to start naming the setting; an old per-service account variable is
named in a warning; the Kafka client is named after the process."""

import pytest
import structlog
from pydantic import SecretStr

from switchboard.common.config import ConfigSettings
from switchboard.common.config.startup import ConfigKeysMissing, service_follower
from switchboard.common.crypto import new_key
from switchboard.common.settings import KafkaSettings

KAFKA = KafkaSettings(bootstrap_servers="127.0.0.1:1", client_id="sb")


def test_a_process_that_needs_the_ring_refuses_to_start_without_it() -> None:
    with pytest.raises(ConfigKeysMissing, match=r"SWITCHBOARD_CONFIG__KEYS.*Twilio credential"):
        service_follower(
            KAFKA,
            ConfigSettings(),
            process="dialer-api",
            prefixes=("tenant/",),
            needs_keys="the dialer cannot read a single Twilio credential",
        )


def test_a_process_without_secrets_starts_without_the_ring() -> None:
    follower = service_follower(KAFKA, ConfigSettings(), process="ai-worker", prefixes=("c/",))
    assert follower is not None


def test_old_account_variables_are_named_in_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_TWILIO__ACCOUNTS", "{}")
    ring = ConfigSettings(keys={"k": SecretStr(new_key())}, current_key_id="k")
    with structlog.testing.capture_logs() as logs:
        service_follower(
            KAFKA,
            ring,
            process="dialer-worker",
            prefixes=("tenant/",),
            needs_keys="the dialer cannot read a single Twilio credential",
            legacy_env=("SWITCHBOARD_TWILIO__ACCOUNTS", "SWITCHBOARD_TWILIO__DEFAULT_ACCOUNT"),
            legacy_what="Twilio accounts",
        )
    warned = [e for e in logs if e["log_level"] == "warning"]
    assert warned and warned[0]["variables"] == ["SWITCHBOARD_TWILIO__ACCOUNTS"]
    assert "Twilio accounts come from the control plane" in warned[0]["event"]
