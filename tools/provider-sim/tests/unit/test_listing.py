"""Twilio list filters and paging (pure functions over call records)."""

import asyncio
import random
from datetime import UTC, datetime

from switchboard.providersim.state import CallRecord
from switchboard.providersim.twilio_api import filter_calls, page_of


def call(sid: str, to: str, day: int, *, started: bool = True) -> CallRecord:
    created = datetime(2026, 11, day, 12, tzinfo=UTC)
    return CallRecord(
        sid=sid,
        account_sid="AC1",
        to=to,
        from_="+1",
        created_at=created,
        queue_time_ms=0,
        status_callback=None,
        status_events=("completed",),
        status_method="POST",
        machine_detection=None,
        async_amd=False,
        amd_callback=None,
        timeout_s=60,
        time_limit_s=600,
        outcome="completed",
        ring_s=1,
        talk_s=1,
        answered_by=None,
        hold_callbacks=False,
        drop_final=False,
        rng=random.Random(0),
        started_at=created if started else None,
        hangup=asyncio.Event(),
    )


def test_filters_by_to_and_start_time_newest_first():
    calls = [call("CA1", "+1", 20), call("CA2", "+2", 21), call("CA3", "+1", 22)]
    assert [c.sid for c in filter_calls(calls, [("To", "+1")])] == ["CA3", "CA1"]
    assert [c.sid for c in filter_calls(calls, [("StartTime>", "2026-11-21")])] == ["CA3", "CA2"]
    assert [c.sid for c in filter_calls(calls, [("StartTime", "2026-11-21")])] == ["CA2"]
    assert [c.sid for c in filter_calls(calls, [("StartTime<", "2026-11-21")])] == ["CA2", "CA1"]
    since = [("StartTime>", "2026-11-21T13:00:00Z")]
    assert [c.sid for c in filter_calls(calls, since)] == ["CA3"]


def test_a_start_time_filter_leaves_out_calls_that_have_not_started():
    # Twilio: a call still queued has no StartTime, so no StartTime filter matches it.
    calls = [call("CA1", "+1", 20), call("CA2", "+1", 22, started=False)]
    assert [c.sid for c in filter_calls(calls, [("To", "+1")])] == ["CA2", "CA1"]
    for op in ("StartTime>", "StartTime<", "StartTime"):
        assert "CA2" not in [c.sid for c in filter_calls(calls, [(op, "2026-11-22")])]
    assert [c.sid for c in filter_calls(calls, [("StartTime>", "2026-11-19")])] == ["CA1"]


def test_pages_link_to_each_other():
    items = [{"n": i} for i in range(5)]
    first = page_of(items, "calls", "/p.json", [("To", "+1"), ("PageSize", "2")])
    assert first["calls"] == items[:2] and first["page"] == 0 and first["start"] == 0
    assert first["next_page_uri"] == "/p.json?To=%2B1&PageSize=2&Page=1"
    assert first["previous_page_uri"] is None
    last = page_of(items, "calls", "/p.json", [("PageSize", "2"), ("Page", "2")])
    assert last["calls"] == items[4:] and last["next_page_uri"] is None and last["end"] == 4
