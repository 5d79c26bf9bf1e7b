"""The query API process reads ``control.config`` once: one follower for the provider
accounts (recording deletions) and the token check's signing keys; without the distribution
ring, one for the signing keys alone."""

import pytest

from switchboard.common.auth import AuthSettings
from switchboard.common.auth.service import AUTH_PREFIXES
from switchboard.common.config import ConfigSettings
from switchboard.common.testing import config_followers, config_settings
from switchboard.history.app import create_api
from switchboard.history.credentials import PREFIXES
from switchboard.history.settings import HistorySettings


@pytest.mark.parametrize(
    ("config", "prefixes"),
    [
        (config_settings(), {*PREFIXES, *AUTH_PREFIXES}),
        (ConfigSettings(), set(AUTH_PREFIXES)),  # no ring: no provider secret to read
    ],
)
def test_the_api_makes_one_follower(config: ConfigSettings, prefixes: set[str]) -> None:
    settings = HistorySettings(auth=AuthSettings(), config=config)
    with config_followers() as made:
        create_api(settings)
    [follower] = made
    assert set(follower.prefixes) == prefixes
