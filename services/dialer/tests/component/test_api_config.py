"""The campaigns API process reads ``control.config`` once: one follower for the tenants'
accounts and limits and for the token check's signing keys (the topic is read from the
beginning at start, so a second follower would read it all twice)."""

from switchboard.common.auth import AuthSettings
from switchboard.common.auth.service import AUTH_PREFIXES
from switchboard.common.testing import config_followers, config_settings
from switchboard.dialer.accounts import PREFIXES
from switchboard.dialer.app import create_api
from switchboard.dialer.settings import DialerSettings


def test_the_api_makes_one_follower_for_its_slice_and_the_signing_keys() -> None:
    settings = DialerSettings(auth=AuthSettings(), config=config_settings())
    with config_followers() as made:
        create_api(settings)
    [follower] = made
    assert set(follower.prefixes) == {*PREFIXES, *AUTH_PREFIXES}
