import itertools

from switchboard.history.handlers import handle_call_events


async def test_duplicates_are_dropped_by_event_id(store, make_event) -> None:
    event = make_event("ringing", 1)
    assert await handle_call_events([event, event], store, "dflt") == 1
    assert await handle_call_events([event], store, "dflt") == 0
    assert len(store.events) == 1


async def test_every_order_of_a_lifecycle_ends_completed(store, make_event, lifecycle) -> None:
    events = [
        make_event(status, seq, duration=30 if status == "completed" else None)
        for status, seq in lifecycle
    ]
    for order in itertools.permutations(events):
        fresh = type(store)()
        for event in order:
            await handle_call_events([event], fresh, "dflt")
        final = fresh.calls["CA1"].call
        assert (final.status.value, final.sequence_number, final.duration_s) == ("completed", 3, 30)


async def test_terminal_status_never_reverts(store, make_event) -> None:
    await handle_call_events([make_event("completed", 3, duration=9)], store, "dflt")
    await handle_call_events(
        [make_event("ringing", 1), make_event("in-progress", 2)], store, "dflt"
    )
    assert store.calls["CA1"].call.status.value == "completed"


async def test_empty_batch_stores_nothing(store) -> None:
    assert await handle_call_events([], store, "dflt") == 0
