"""Voicemail drop rules: which AMD verdicts get the message, what the call is asked for."""

import pytest
from pydantic import ValidationError

from switchboard.dialer.models import Amd, CampaignConfig, leaves_voicemail, voicemail_twiml


@pytest.mark.parametrize(
    ("answered_by", "left"),
    [
        ("machine_end_beep", True),
        ("machine_end_silence", True),
        ("machine_end_other", True),
        ("human", False),
        ("machine_start", False),
        ("fax", False),
        ("unknown", False),
    ],
)
def test_only_the_end_of_a_machine_greeting_gets_the_message(answered_by, left) -> None:
    assert leaves_voicemail("Call us back", answered_by) is left
    assert leaves_voicemail(None, answered_by) is False


def test_the_message_is_said_escaped_then_the_call_hangs_up() -> None:
    twiml = voicemail_twiml("Tom & Jerry <3")
    assert twiml == "<Response><Say>Tom &amp; Jerry &lt;3</Say><Hangup/></Response>"


def test_a_voicemail_message_asks_for_detection_until_the_message_ends() -> None:
    amd = Amd(voicemail_message="Call us back", on_machine="hangup")
    assert amd.detects and amd.waits_for_message_end
    assert not Amd().detects
    assert Amd(enabled=True, on_machine="hangup").waits_for_message_end is False
    with pytest.raises(ValidationError):
        Amd(voicemail_message="")


def test_recording_is_off_unless_asked() -> None:
    assert CampaignConfig(caller_ids=["+13125550100"]).record is False
