"""How a service process starts following ``control.config``: the same checks and names in
every service (the ingress, the dialer, history, the AI service)."""

import os
from collections.abc import Iterable, Sequence

import structlog

from switchboard.common.config.follower import ConfigFollower
from switchboard.common.config.settings import ConfigSettings
from switchboard.common.settings import KafkaSettings

log = structlog.get_logger(__name__)


class ConfigKeysMissing(RuntimeError):
    """The process would start unable to read a secret it needs from the control plane."""


def warn_about_legacy_env(names: Iterable[str], what: str) -> None:
    """Variables a service read before the control plane are ignored now: say so at start."""
    found = [name for name in names if name in os.environ]
    if found:
        log.warning(
            f"ignored: {what} come from the control plane now "
            "(switchboard-control bootstrap <file>, or its API)",
            variables=found,
        )


def service_follower(
    kafka: KafkaSettings,
    config: ConfigSettings,
    *,
    process: str,
    prefixes: Sequence[str],
    needs_keys: str = "",
    legacy_env: Sequence[str] = (),
    legacy_what: str = "provider accounts",
) -> ConfigFollower:
    """The follower of one process's slice of ``control.config`` (``prefixes``), its Kafka
    client named after ``process``. ``needs_keys``: what the process cannot do without the
    distribution key ring, so that it refuses to start without one, saying so."""
    if needs_keys and not config.keys:
        raise ConfigKeysMissing(
            "set SWITCHBOARD_CONFIG__KEYS (the control plane's distribution key ring): "
            f"without it {needs_keys}"
        )
    warn_about_legacy_env(legacy_env, legacy_what)
    return ConfigFollower(
        kafka, config, prefixes=prefixes, client_id=f"{kafka.client_id}-{process}-config"
    )
