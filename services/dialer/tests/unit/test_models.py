"""Calling windows across zones, retries, caller ids, opt-out keywords, templates."""

from datetime import UTC, datetime, time

import pytest

from switchboard.dialer.models import (
    Amd,
    CallingWindow,
    CampaignConfig,
    ContactState,
    Outcome,
    RetryDelays,
    callable_now,
    choose_caller_id,
    is_opt_out,
    next_step,
    outcome_of,
    render_twiml,
)
from switchboard.dialer.phones import normalize_contact

WINDOW = CallingWindow(start=time(9), end=time(20), days=(1, 2, 3, 4, 5))
MONDAY_15Z = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 New York, 07:00 Los Angeles


def test_window_is_local_to_each_zone() -> None:
    assert callable_now(MONDAY_15Z, "America/New_York", WINDOW)
    assert not callable_now(MONDAY_15Z, "America/Los_Angeles", WINDOW)
    assert callable_now(MONDAY_15Z, "Europe/London", WINDOW)  # 15:00
    assert not callable_now(MONDAY_15Z, "Asia/Tokyo", WINDOW)  # 00:00 Tuesday


def test_unknown_zone_uses_the_intersection_of_candidates() -> None:
    both = "America/Los_Angeles,America/New_York"
    assert not callable_now(MONDAY_15Z, both, WINDOW)
    at_18z = MONDAY_15Z.replace(hour=18)  # 13:00 NY, 10:00 LA
    assert callable_now(at_18z, both, WINDOW)


def test_days_of_week_are_local() -> None:
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    assert not callable_now(saturday, "America/New_York", WINDOW)
    # Friday 23:30 UTC is still Friday 18:30 in New York
    friday_late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert callable_now(friday_late, "America/New_York", WINDOW)


def test_a_campaign_may_narrow_the_safe_window_but_not_widen_it() -> None:
    wide = CallingWindow(start=time(6), end=time(23))
    assert wide.narrowed_to(time(8), time(21)) == CallingWindow(start=time(8), end=time(21))
    narrow = CallingWindow(start=time(10), end=time(12), days=(2,))
    assert narrow.narrowed_to(time(8), time(21)) == narrow
    with pytest.raises(ValueError):
        CallingWindow(start=time(22), end=time(23)).narrowed_to(time(8), time(21))


def config(**kw) -> CampaignConfig:
    return CampaignConfig(caller_ids=["+12125550100"], twiml="<Response/>", **kw)


@pytest.mark.parametrize(
    ("outcome", "attempts", "state", "delay"),
    [
        (Outcome.BUSY, 1, ContactState.PENDING, 60),
        (Outcome.NO_ANSWER, 1, ContactState.PENDING, 120),
        (Outcome.FAILED, 2, ContactState.PENDING, 180),
        (Outcome.BUSY, 3, ContactState.DONE, None),
        (Outcome.COMPLETED, 1, ContactState.DONE, None),
        (Outcome.CANCELED, 1, ContactState.DONE, None),
    ],
)
def test_retries_follow_the_per_outcome_delay_until_max_attempts(
    outcome, attempts, state, delay
) -> None:
    cfg = config(max_attempts=3, retry_delays=RetryDelays(busy=60, no_answer=120, failed=180))
    got_state, at = next_step(outcome, attempts, cfg, MONDAY_15Z)
    assert got_state is state
    assert (at - MONDAY_15Z).total_seconds() == delay if delay else at is None


def test_machine_outcome_follows_the_amd_action() -> None:
    retry = config(amd=Amd(enabled=True, on_machine="retry"), retry_delays=RetryDelays(machine=5))
    assert next_step(Outcome.MACHINE, 1, retry, MONDAY_15Z)[0] is ContactState.PENDING
    leave = config(amd=Amd(enabled=True, on_machine="continue"))
    assert next_step(Outcome.MACHINE, 1, leave, MONDAY_15Z)[0] is ContactState.DONE


def test_outcome_of_terminal_statuses() -> None:
    assert outcome_of("completed", "human") is Outcome.COMPLETED
    assert outcome_of("completed", "machine_end_beep") is Outcome.MACHINE
    assert outcome_of("no-answer", None) is Outcome.NO_ANSWER
    assert outcome_of("ringing", None) is None


def test_caller_id_round_robin_and_local_presence() -> None:
    pool = ["+12125550100", "+14155550100", "+442079460000"]
    assert [choose_caller_id(pool, "round_robin", "+13105550100", i) for i in range(4)] == [
        pool[0],
        pool[1],
        pool[2],
        pool[0],
    ]
    assert choose_caller_id(pool, "local_presence", "+14155551234", 0) == "+14155550100"
    assert choose_caller_id(pool, "local_presence", "+442071234567", 5) == "+442079460000"
    # same country, other area: a number of that country
    assert choose_caller_id(pool, "local_presence", "+13125550123", 1) == "+14155550100"


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop! ", "unsubscribe", "Opt-Out", "STOPALL"])
def test_opt_out_keywords(text: str) -> None:
    assert is_opt_out(text, ["STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT"])


@pytest.mark.parametrize("text", ["please stop calling me at night", "", None, "STOPPED"])
def test_not_opt_out(text) -> None:
    assert not is_opt_out(text, ["STOP", "UNSUBSCRIBE"])


def test_twiml_template_escapes_variables() -> None:
    out = render_twiml("<Say>Hi $name</Say>", {"name": "A & <B>"})
    assert out == "<Say>Hi A &amp; &lt;B&gt;</Say>"


def test_phone_normalization_and_zones() -> None:
    assert normalize_contact("+1 (212) 555-0123", None, None) == (
        "+12125550123",
        "America/New_York",
    )
    assert normalize_contact("2125550123", None, "US") == ("+12125550123", "America/New_York")
    assert normalize_contact("12", None, "US") == "invalid_number"
    assert normalize_contact("+12125550123", "Mars/Base", None) == "invalid_time_zone"
    assert normalize_contact("+12125550123", "Europe/Paris", None) == (
        "+12125550123",
        "Europe/Paris",
    )
    _e164, zones = normalize_contact("+18005550123", None, None)  # toll-free: many zones
    assert "America/New_York" in zones.split(",") and "America/Los_Angeles" in zones.split(",")


def test_every_dial_action_has_its_transition() -> None:
    from typing import get_args

    from switchboard.common.events import DialAction
    from switchboard.dialer.models import TRANSITIONS

    assert set(TRANSITIONS) == set(get_args(DialAction))
