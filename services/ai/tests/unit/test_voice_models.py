"""The pure rules of a business on calls: hours in its time zone, transfers by time of day,
ElevenLabs overrides filtered by what the agent allows, knowledge read out as short text."""

from datetime import UTC, datetime

import pytest

from switchboard.ai.voice_models import (
    Interval,
    TransferRule,
    VoiceProfile,
    allowed_overrides,
    describe_day,
    hours_answer,
    open_at,
    parse_clock,
    spoken_knowledge,
    transfer_destination,
)
from switchboard.ai.voice_schemas import VoiceIn, parse_interval

PARIS = VoiceProfile(
    time_zone="Europe/Paris",
    hours={
        "tue": (Interval(720, 1320),),
        "sun": (Interval(720, 900), Interval(1080, 1320)),
    },
    transfer_rules=(
        TransferRule(("mon", "tue", "wed", "thu", "fri"), Interval(540, 1080), "+33100000001"),
        TransferRule(("sat", "sun"), Interval(600, 1200), "+33100000002", "Weekend desk."),
    ),
    transfer_number="+33100000009",
    transfer_message="Our night line.",
)
# Sunday 2026-12-06 12:30 in Paris is 11:30 UTC.
SUNDAY_NOON_PARIS = datetime(2026, 12, 6, 11, 30, tzinfo=UTC)


def test_clock_and_intervals() -> None:
    assert parse_clock("00:00") == 0
    assert parse_clock("24:00") == 1440
    assert parse_interval("12:00-22:00") == Interval(720, 1320)
    for bad in ("25:00", "12:60", "noon", "7:00"):
        with pytest.raises(ValueError):
            parse_clock(bad)
    with pytest.raises(ValueError):
        parse_interval("22:00-12:00")


def test_hours_are_the_business_own_time_zone() -> None:
    assert describe_day(PARIS, "sun") == "12:00 to 15:00 and 18:00 to 22:00"
    assert describe_day(PARIS, "mon") == "closed"
    assert open_at(PARIS, SUNDAY_NOON_PARIS)
    # 11:30 UTC is 11:30 in UTC: the same instant read in UTC would be before opening.
    assert not open_at(VoiceProfile(hours=PARIS.hours), SUNDAY_NOON_PARIS)
    assert not open_at(PARIS, datetime(2026, 12, 6, 15, 0, tzinfo=UTC))  # 16:00, the break


def test_hours_answer_for_a_day_asked_about() -> None:
    assert hours_answer(PARIS, SUNDAY_NOON_PARIS, "Sunday") == (
        "Open on Sunday from 12:00 to 15:00 and 18:00 to 22:00. Open now."
    )
    assert hours_answer(PARIS, SUNDAY_NOON_PARIS, "monday") == "Closed on Monday."
    assert hours_answer(PARIS, SUNDAY_NOON_PARIS, "tomorrow") == "Closed on Monday."
    assert hours_answer(PARIS, SUNDAY_NOON_PARIS, None).startswith("Open on Sunday")
    assert hours_answer(PARIS, SUNDAY_NOON_PARIS, "the week").startswith("Opening hours")


def test_transfer_destination_by_time_of_day() -> None:
    assert transfer_destination(PARIS, SUNDAY_NOON_PARIS) == ("+33100000002", "Weekend desk.")
    tuesday_10 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)  # 10:00 in Paris
    assert transfer_destination(PARIS, tuesday_10) == ("+33100000001", "Our night line.")
    tuesday_night = datetime(2026, 12, 8, 22, 0, tzinfo=UTC)  # 23:00 in Paris
    assert transfer_destination(PARIS, tuesday_night) == ("+33100000009", "Our night line.")
    assert transfer_destination(VoiceProfile(), tuesday_night) == (None, None)


def test_only_the_overrides_the_agent_allows_go_out() -> None:
    values = {"agent.first_message": "Hi!", "agent.language": "fr", "tts.voice_id": "v1"}
    assert allowed_overrides(["agent.first_message", "tts.voice_id"], values) == {
        "agent": {"first_message": "Hi!"},
        "tts": {"voice_id": "v1"},
    }
    assert allowed_overrides([], values) is None
    with pytest.raises(ValueError, match="not an ElevenLabs override"):
        VoiceIn(elevenlabs_overrides={"agent.prompt.llm": "x"})


def test_knowledge_is_read_out_short() -> None:
    text = "# Opening hours\n\nWe are **open** Tuesday to Sunday.\n\n# Menu\n\nPasta."
    assert spoken_knowledge([text], 600) == (
        "Opening hours. We are open Tuesday to Sunday. Menu. Pasta."
    )
    long = "The first sentence is long enough to keep. " + "word " * 200
    assert spoken_knowledge([long], 100) == "The first sentence is long enough to keep."
    assert spoken_knowledge(["x" * 10 + " " + "y" * 200], 50).endswith(" …")
    assert spoken_knowledge([], 100) == ""


def test_voice_input_is_checked() -> None:
    with pytest.raises(ValueError, match="IANA"):
        VoiceIn(time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match=r"E\.164"):
        VoiceIn(channels=["phone/12345"])
    with pytest.raises(ValueError, match="listed twice"):
        VoiceIn(channels=["vapi-assistant/a", "vapi-assistant/a"])
    with pytest.raises(ValueError, match="share a name"):
        VoiceIn(tools=[{"name": "t", "kind": "opening_hours"}, {"name": "t", "kind": "transfer"}])
    with pytest.raises(ValueError, match="whsec_"):
        VoiceIn(
            tools=[{"name": "t", "kind": "http", "url": "https://x.test", "signing_secret": "s"}]
        )
    with pytest.raises(ValueError, match="24 to 64 bytes"):
        VoiceIn(
            tools=[
                {
                    "name": "t",
                    "kind": "http",
                    "url": "https://x.test",
                    "signing_secret": "whsec_AAAA",
                }
            ]
        )
    with pytest.raises(ValueError, match="http tools only"):
        VoiceIn(tools=[{"name": "t", "kind": "opening_hours", "url": "https://x.test"}])
