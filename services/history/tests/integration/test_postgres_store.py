"""PostgresStore, its convergence and its partitions against the real PostgreSQL."""

import asyncio
import dataclasses
import itertools
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.pool import create_pool
from switchboard.history.adapters.postgres import PostgresStore
from switchboard.history.messages import merge_message, to_message
from switchboard.history.models import CallRow, fold_call, to_fact
from switchboard.history.settings import RetentionSettings

pytestmark = pytest.mark.integration
ROW_COLUMNS = ", ".join(f for f in CallRow.__dataclass_fields__)


def facts(events):
    return [to_fact(e, "dflt") for e in events]


async def call_row(pool, call_id: str) -> CallRow | None:
    async with pool.acquire() as conn:
        r = await conn.fetchrow(f"SELECT {ROW_COLUMNS} FROM calls WHERE call_id = $1", call_id)  # noqa: S608
    return CallRow(**dict(r)) if r else None


async def test_duplicates_leave_one_event_and_one_call(pg_store, pool, ev) -> None:
    event = ev.call("ringing", 1)
    assert await pg_store.record_call_facts(facts([event, event])) == 1
    assert await pg_store.record_call_facts(facts([event])) == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM call_events") == 1
        assert await conn.fetchval("SELECT count(*) FROM calls") == 1
        assert await conn.fetchval("SELECT count(*) FROM call_index") == 1


async def test_every_kind_of_call_event_lands_on_one_row(pg_store, pool, ev) -> None:
    events = [ev.placed(), ev.call("ringing", 1), ev.amd(), ev.report(), ev.call("completed", 3)]
    for e in reversed(events):
        await pg_store.record_call_facts(facts([e]))
    await pg_store.record_call_facts(facts([ev.place_failed("att-7")]))
    row = await call_row(pool, "CA1")
    assert row == fold_call(facts(events))
    assert (row.status, row.campaign_id, row.answered_by, row.cost, row.agent_call_id) == (
        "completed",
        "camp-1",
        "human",
        0.25,
        "vapi-1",
    )
    failed = await call_row(pool, "attempt:att-7")
    assert (failed.status, failed.error_message) == ("failed", "geo permissions")


def example_events(ev, call_id: str):
    return [
        ev.placed(call_id=call_id),
        *(ev.call(s, i, call_id=call_id) for i, s in enumerate(["initiated", "ringing"])),
        ev.call("in-progress", 2, call_id=call_id, direction="outbound-api"),
        ev.call("completed", 3, call_id=call_id, duration=40),
        ev.call("no-answer", 3, call_id=call_id),
        ev.call("completed", None, call_id=call_id, duration=41),
        ev.amd(call_id=call_id),
        ev.report(call_id=f"v-{call_id}", telephony=call_id),
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_permutation_with_duplicates_converges_in_postgres(
    ev, data, pg_settings, database, clock
) -> None:
    """The real store, batch boundaries anywhere, ends in the pure rule's row."""
    call_id = "CA" + uuid.uuid4().hex
    pool_events = example_events(ev, call_id)
    chosen = data.draw(st.lists(st.sampled_from(pool_events), min_size=1, unique_by=lambda e: e.id))
    dupes = data.draw(st.lists(st.sampled_from(chosen), max_size=5))
    order = data.draw(st.permutations(chosen + dupes))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=4)))

    async def run() -> None:
        pool = await create_pool(pg_settings.dsn(database), 1, 2)
        try:
            store = PostgresStore(pool, PartitionManager(pool, RetentionSettings(), clock))
            bounds = [0, *cuts, len(order)]
            for lo, hi in itertools.pairwise(bounds):
                await store.record_call_facts(facts(order[lo:hi]))
            assert await call_row(pool, call_id) == fold_call(facts(chosen))
            async with pool.acquire() as conn:
                n = await conn.fetchval(
                    "SELECT count(*) FROM call_events WHERE call_id = $1", call_id
                )
            assert n == len(chosen)
        finally:
            await pool.close()

    asyncio.run(run())


async def test_concurrent_writers_of_one_call_converge(pg_store, pool, ev) -> None:
    events = example_events(ev, "CA-race")
    await asyncio.gather(*(pg_store.record_call_facts(facts([e])) for e in events))
    assert await call_row(pool, "CA-race") == fold_call(facts(events))


async def test_workers_that_do_not_remember_each_others_events_converge(
    pool, partitions, ev
) -> None:
    """Two stores (two workers): each reads back what the other wrote, whatever it remembers."""
    one, two = PostgresStore(pool, partitions), PostgresStore(pool, partitions)
    events = example_events(ev, "CA-two")
    for i, e in enumerate(events):
        assert await (one if i % 3 else two).record_call_facts(facts([e])) == 1
    assert await one.record_call_facts(facts(events)) == 0
    assert await call_row(pool, "CA-two") == fold_call(facts(events))
    small = PostgresStore(pool, partitions, recent_calls=1)  # forgets all but the last call
    for call_id in ("CA-s1", "CA-s2", "CA-s1", "CA-s2"):
        await small.record_call_facts(facts(example_events(ev, call_id)[:3]))
    await small.record_call_facts(facts(example_events(ev, "CA-s1")))
    assert await call_row(pool, "CA-s1") == fold_call(facts(example_events(ev, "CA-s1")))


async def test_every_write_of_a_call_counts_in_its_version(pool, partitions, ev) -> None:
    """The version a store checks its memory against: 0 when first seen, then one more per
    transaction that touches the call, whichever store, whether or not it has news."""
    one, two = PostgresStore(pool, partitions), PostgresStore(pool, partitions)
    events = example_events(ev, "CA-v")

    async def version() -> int:
        async with pool.acquire() as conn:
            return await conn.fetchval("SELECT version FROM call_index WHERE call_id = 'CA-v'")

    await one.record_call_facts(facts(events[:2]))
    assert await version() == 0
    await two.record_call_facts(facts(events[2:4]))
    # one remembers the call as of version 0: what two wrote is read back, not missed
    assert await one.record_call_facts(facts(events[4:])) == len(events) - 4
    assert await call_row(pool, "CA-v") == fold_call(facts(events))
    assert await version() == 2
    assert await one.record_call_facts(facts(events[:1])) == 0  # nothing new: still a write
    assert await version() == 3
    assert await call_row(pool, "CA-v") == fold_call(facts(events))


async def test_a_remembered_call_id_seen_again_in_a_new_life_is_read_back(
    pool, partitions, ev
) -> None:
    """The version a store expects matches, but the call's first sighting does not (its first
    life was pruned, another worker saw it anew): the store reads the new life's events back
    instead of folding in the events it remembers of the old one."""
    one, two = PostgresStore(pool, partitions), PostgresStore(pool, partitions)
    old_life = [ev.call("initiated", 0, call_id="CA-l"), ev.call("ringing", 1, call_id="CA-l")]
    await one.record_call_facts(facts(old_life))
    async with pool.acquire() as conn:
        for table in ("call_index", "calls", "call_events"):
            await conn.execute(f"DELETE FROM {table} WHERE call_id = 'CA-l'")  # noqa: S608
    later = old_life[1].data.occurred_at + timedelta(minutes=5)
    new_life = [
        ev.call("ringing", 1, call_id="CA-l", at=later),
        ev.call("completed", 3, call_id="CA-l", at=later + timedelta(seconds=30), duration=7),
    ]
    await two.record_call_facts(facts(new_life[:1]))
    assert await one.record_call_facts(facts(new_life[1:])) == 1
    assert await call_row(pool, "CA-l") == fold_call(facts(new_life))


async def test_an_event_id_stored_under_another_call_is_skipped_not_refused(
    pg_store, pool, ev
) -> None:
    """Same id, same first-sighting instant, other call: the batch's COPY clashes, and the
    batch is written row by row instead (the clashing event skipped, the others stored)."""
    first = ev.call("ringing", 1, call_id="CA-x")
    await pg_store.record_call_facts(facts([first]))
    clash = ev.call("ringing", 1, call_id="CA-y")
    clash = dataclasses.replace(clash, id=first.id)
    later = ev.call("completed", 3, call_id="CA-y", duration=9)
    assert await pg_store.record_call_facts(facts([clash, later])) == 1
    row = await call_row(pool, "CA-y")
    assert (row.status, row.event_count, row.duration_s) == ("completed", 1, 9)
    assert await call_row(pool, "CA-x") == fold_call(facts([first]))


async def test_a_new_call_whose_row_exists_already_is_upserted(pg_store, pool, ev) -> None:
    """A calls row without its index row (not made by the store): the COPY of the new
    call's row clashes and the row is upserted instead."""
    await pg_store.record_call_facts(facts([ev.call("ringing", 1, call_id="CA-z")]))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM call_index WHERE call_id = 'CA-z'")
    again = ev.call("initiated", 0, call_id="CA-z", at=ev.call("ringing", 1).data.occurred_at)
    assert await pg_store.record_call_facts(facts([again])) == 1
    row = await call_row(pool, "CA-z")
    assert (row.status, row.event_count) == ("initiated", 1)


async def test_a_call_row_gone_behind_the_stores_back_is_written_whole(pg_store, pool, ev) -> None:
    """A row the store wrote last and remembers, deleted meanwhile (by hand: its index row
    kept): the next batch writes it whole again, not just what changed."""
    events = example_events(ev, "CA-gone")
    await pg_store.record_call_facts(facts(events[:2]))
    await pg_store.record_call_facts(facts(events[2:4]))
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM calls WHERE call_id = 'CA-gone'")
    assert await pg_store.record_call_facts(facts(events[4:])) == len(events) - 4
    assert await call_row(pool, "CA-gone") == fold_call(facts(events))


@pytest.mark.parametrize(
    ("call_id", "extra"),
    [
        ("CA-plain", {}),  # the packed arguments
        ("CA\x1fodd", {}),  # a separator in the id: the lock and the upsert go as arrays
        ("CA-mark", {"to_number": "\x1e"}),  # the NULL mark as a value
        ("CA-empty", {"answered_by": ""}),  # one row whose value is "" (packs to nothing)
    ],
)
async def test_packed_arguments_keep_every_value_and_microsecond(
    pg_store, pool, partitions, ev, call_id, extra
) -> None:
    """Text goes to PostgreSQL one string per column and timestamps as Unix seconds, except
    where a value would not survive that: the row is exact either way."""
    at = ev.call("ringing", 1).data.occurred_at + timedelta(microseconds=123_457)
    events = [
        ev.call("initiated", 0, call_id=call_id, at=at, **extra),
        ev.call("ringing", 1, call_id=call_id, at=at + timedelta(microseconds=1), **extra),
        ev.call("completed", 3, call_id=call_id, at=at + timedelta(seconds=9.999999), **extra),
    ]
    for batch in (events[:1], events[1:2], events[2:]):  # a new call, then updates
        assert await pg_store.record_call_facts(facts(batch)) == 1
    assert await call_row(pool, call_id) == fold_call(facts(events))
    async with pool.acquire() as conn:
        seen = await conn.fetchval("SELECT seen_at FROM call_index WHERE call_id = $1", call_id)
    assert seen == at
    other = PostgresStore(pool, partitions)  # remembers nothing: the lock's rows are read
    assert await other.record_call_facts(facts(events)) == 0
    assert await call_row(pool, call_id) == fold_call(facts(events))


async def test_messages_converge_whatever_the_order(pg_store, pool, ev) -> None:
    events = [
        ev.inbound(),
        ev.sent(),
        ev.status("delivered"),
        ev.status("read"),
        ev.status("sent"),
    ]
    for order in (events, list(reversed(events)), events[2:] + events[:2]):
        await pg_store.record_messages([to_message(e, "dflt") for e in order[:2]])
        await pg_store.record_messages([to_message(e, "dflt") for e in order[2:]])
    expected = to_message(events[1], "dflt")
    for e in events[2:]:
        expected = merge_message(expected, to_message(e, "dflt"))
    async with pool.acquire() as conn:
        out = await conn.fetchrow("SELECT * FROM messages WHERE message_id = 'wamid.out1'")
        conversations = await conn.fetch("SELECT * FROM conversations")
        count = await conn.fetchval("SELECT count(*) FROM messages")
    assert count == 2
    assert (out["status"], out["text"], out["model"], out["in_reply_to"]) == (
        "read",
        "hi there",
        "gpt-test",
        "wamid.1",
    )
    assert out["status_at"] == expected.status_at
    assert [(c["conversation_id"], c["contact_name"]) for c in conversations] == [
        ("PN1:+1555", "Ann")
    ]


async def test_a_message_keeps_the_time_it_was_first_stored(pg_store, pool, ev) -> None:
    async def stored_at():
        async with pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT stored_at, updated_at, now() AS now FROM messages"
                " WHERE message_id = 'wamid.out1'"
            )

    await pg_store.record_messages([to_message(ev.sent(), "dflt")])
    first = await stored_at()
    assert first["stored_at"] <= first["now"]
    await pg_store.record_messages([to_message(ev.status("delivered"), "dflt")])
    await pg_store.record_messages([to_message(ev.sent(), "dflt")])  # a redelivery
    later = await stored_at()
    assert later["stored_at"] == first["stored_at"]
    assert later["updated_at"] > first["updated_at"]  # merges move updated_at, not stored_at


async def test_events_past_retention_are_skipped_and_old_days_get_a_partition(
    pg_store, pool, clock, ev
) -> None:
    clock.advance(days=30)
    assert await pg_store.record_call_facts(facts([ev.call("ringing", 1)])) == 1  # 30 days old
    clock.advance(days=70)
    assert await pg_store.record_call_facts(facts([ev.call("completed", 2)])) == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM call_events") == 1


async def test_retention_drops_old_partitions_and_creates_the_coming_ones(
    pg_store, partitions, pool, clock, ev
) -> None:
    await pg_store.record_call_facts(facts([ev.call("ringing", 1, call_id="CA-old")]))
    await pg_store.record_messages([to_message(ev.inbound(), "dflt")])
    first = await partitions.maintain()
    assert first.created >= 3 * 3 and first.dropped == 0
    clock.advance(days=91)
    await pg_store.record_call_facts(facts([ev.call("ringing", 1, call_id="CA-new", at=clock.now)]))
    result = await partitions.maintain()
    # days 11-01 (the data) and 11-02 (created ahead), for calls, call_events, messages
    assert result.dropped == 6
    async with pool.acquire() as conn:
        assert [r["call_id"] for r in await conn.fetch("SELECT call_id FROM calls")] == ["CA-new"]
        assert await conn.fetchval("SELECT count(*) FROM call_events") == 1
        assert await conn.fetchval("SELECT count(*) FROM call_index") == 1
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0
        assert await conn.fetchval("SELECT count(*) FROM conversations") == 0
        names = {
            r["relname"]
            for r in await conn.fetch("SELECT relname FROM pg_class WHERE relname LIKE 'calls_p%'")
        }
    today = clock.now.date()
    assert {f"calls_p{today + timedelta(n):%Y%m%d}" for n in range(3)} <= names
    assert "calls_p20261101" not in names and "calls_p20261102" not in names
    assert "calls_p20261103" in names  # 90 days before today: still kept
    assert (await partitions.maintain()).dropped == 0  # idempotent


async def test_store_reports_ready(pg_store) -> None:
    assert await pg_store.is_ready()
