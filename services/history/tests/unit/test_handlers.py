import itertools

from switchboard.history.handlers import handle_call_events, handle_message_events


async def test_duplicates_are_dropped_by_event_id(store, ev) -> None:
    event = ev.call("ringing", 1)
    assert await handle_call_events([event, event], store, "dflt") == 1
    assert await handle_call_events([event], store, "dflt") == 0
    assert len(store.events) == 1


async def test_every_order_of_a_lifecycle_ends_completed(store_factory, ev, lifecycle) -> None:
    events = [
        ev.call(status, seq, duration=30 if status == "completed" else None)
        for status, seq in lifecycle
    ]
    for order in itertools.permutations(events):
        fresh = store_factory()
        for event in order:
            await handle_call_events([event], fresh, "dflt")
        final = fresh.calls["CA1"]
        assert (final.status, final.sequence_number, final.duration_s) == ("completed", 3, 30)


async def test_events_of_other_kinds_on_a_topic_are_skipped(store, ev) -> None:
    assert await handle_call_events([ev.inbound()], store, "dflt") == 0
    assert await handle_message_events([ev.call("ringing", 1)], store, "dflt") == 0
    assert store.batches == 0


async def test_messages_take_the_default_tenant(store, ev) -> None:
    assert await handle_message_events([ev.inbound(tenant=None)], store, "dflt") == 1
    assert store.messages["wamid.1"].tenant_id == "dflt"


async def test_empty_batch_stores_nothing(store) -> None:
    assert await handle_call_events([], store, "dflt") == 0
