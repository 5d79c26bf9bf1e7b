"""The admin API process reads ``control.config`` once: one follower for the channels,
tenants and models it checks businesses against and for the token check's signing keys."""

from pydantic import SecretStr

from switchboard.ai.app import CONFIG_PREFIXES, create_api
from switchboard.ai.settings import AiSettings
from switchboard.common.auth import AuthSettings
from switchboard.common.auth.service import AUTH_PREFIXES
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.testing import config_followers, config_settings


def test_the_api_makes_one_follower_for_its_slice_and_the_signing_keys(build) -> None:
    settings = AiSettings(
        auth=AuthSettings(),
        config=config_settings(),
        crypto=KeyRingSettings(keys={"k1": SecretStr(build.key_1)}, current_key_id="k1"),
    )
    with config_followers() as made:
        create_api(settings)
    [follower] = made
    assert set(follower.prefixes) == {*CONFIG_PREFIXES, *AUTH_PREFIXES}
