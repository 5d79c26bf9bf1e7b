"""Control-plane settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from functools import lru_cache

from pydantic import BaseModel, Field

from switchboard.common.config import ConfigSettings
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.settings import CommonSettings


class HttpSettings(BaseModel):
    """Where the control API listens."""

    host: str = "127.0.0.1"
    port: int = 8007


class TokenSettings(BaseModel):
    """The access tokens ``POST /v1/tokens`` mints."""

    issuer: str = "switchboard-control"
    default_ttl_s: int = Field(default=900, ge=60)
    """Lifetime of a token when the request names none."""
    max_ttl_s: int = Field(default=3600, ge=60)
    """Longest lifetime a request may ask for; a retired signing key stays published this long
    (plus a minute of clock skew) so that every token it signed can still be verified."""


class RelaySettings(BaseModel):
    """The outbox relay and the housekeeping loop of the API process."""

    interval_s: float = 0.2
    """Pause of the relay when the outbox is empty."""
    batch: int = Field(default=500, ge=1)
    """Outbox rows published per transaction."""
    housekeeping_interval_s: float = 30.0
    """How often expired signing keys are withdrawn, sent outbox rows purged and the public
    keys of this process refreshed (other replicas' rotations)."""
    outbox_retention_s: float = 86_400.0
    """Sent outbox rows are kept this long (to look at), then deleted."""


class ControlSettings(CommonSettings):
    """Everything the control plane reads."""

    service_name: str = "control"
    database: str = "control"
    http: HttpSettings = Field(default_factory=HttpSettings)
    crypto: KeyRingSettings = Field(default_factory=KeyRingSettings)
    """At-rest key ring (``SWITCHBOARD_CRYPTO__KEYS`` / ``__CURRENT_KEY_ID``): provider secrets
    and token signing keys in the database. Rotate with ``rotate-keys``."""
    config: ConfigSettings = Field(default_factory=ConfigSettings)
    """Distribution (``SWITCHBOARD_CONFIG__KEYS`` / ``__CURRENT_KEY_ID``): secrets on
    ``control.config`` are sealed with this separate ring; every service that reads secrets
    holds it. Rotate with ``republish``."""
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)


@lru_cache(maxsize=1)
def get_settings() -> ControlSettings:
    """Settings from the environment, read once per process."""
    return ControlSettings()
