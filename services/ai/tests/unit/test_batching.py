"""Group commit: concurrent inserts share one insert_many, each keeps its own outcome."""

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from switchboard.ai.adapters.batching import InsertBatcher, Inserts, WriteGate
from switchboard.ai.errors import StoreUnavailable


class FakeCollection:
    """Unique ``_id``s like a server; ``insert_many`` yields once, as a round trip would."""

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self.calls: list[list[Any]] = []
        self.fail_with: BaseException | None = None
        self.reject: set[Any] = set()
        """``_id``s failing with a non-duplicate write error."""
        self.started = asyncio.Event()
        """Set by the first round trip."""

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool) -> None:
        assert ordered is False
        self.calls.append([d["_id"] for d in docs])
        self.started.set()
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        errors = []
        for i, d in enumerate(docs):
            if d["_id"] in self.reject:
                errors.append({"index": i, "code": 2, "errmsg": "bad value"})
            elif d["_id"] in self.ids:
                errors.append({"index": i, "code": 11000, "errmsg": "duplicate key"})
            else:
                self.ids.add(d["_id"])
        if errors:
            raise BulkWriteError({"writeErrors": errors})


def batcher(c: FakeCollection, **kwargs: Any) -> InsertBatcher:
    return InsertBatcher(c, **kwargs)  # type: ignore[arg-type]


async def test_a_lone_insert_goes_out_at_once() -> None:
    c = FakeCollection()
    assert await batcher(c).insert([{"_id": "a"}], "test") == [True]
    assert c.calls == [["a"]]


async def test_concurrent_inserts_share_round_trips_and_one_id_has_one_winner() -> None:
    c = FakeCollection()
    b = batcher(c)
    results = await asyncio.gather(
        *(b.insert([{"_id": f"m{i % 5}|claimed"}], "test") for i in range(20))
    )
    assert sum(r == [True] for r in results) == 5  # one winner per _id
    assert sum(r == [False] for r in results) == 15
    assert len(c.calls) < 20
    assert sum(len(call) for call in c.calls) == 20


async def test_each_caller_gets_its_own_documents_outcomes_in_order() -> None:
    c = FakeCollection()
    c.ids.add("old")
    b = batcher(c)
    first, second = await asyncio.gather(
        b.insert([{"_id": "x"}, {"_id": "old"}], "test"),
        b.insert([{"_id": "old"}, {"_id": "y"}, {"_id": "x"}], "test"),
    )
    assert first == [True, False]
    assert second == [False, True, False]


async def test_batches_are_bounded() -> None:
    c = FakeCollection()
    b = batcher(c, max_docs=3)
    await asyncio.gather(*(b.insert([{"_id": i}, {"_id": -i - 1}], "test") for i in range(5)))
    assert all(len(call) <= 3 for call in c.calls)
    assert len(c.ids) == 10


async def test_other_write_errors_fail_only_their_caller() -> None:
    c = FakeCollection()
    c.reject.add("bad")
    b = batcher(c)
    ok, bad = await asyncio.gather(
        b.insert([{"_id": "good"}], "test"),
        b.insert([{"_id": "bad"}], "test"),
        return_exceptions=True,
    )
    assert ok == [True]
    assert isinstance(bad, StoreUnavailable)


async def test_a_failed_round_trip_fails_every_caller_and_the_next_one_works() -> None:
    c = FakeCollection()
    c.fail_with = AutoReconnect("connection reset")
    b = batcher(c)
    results = await asyncio.gather(
        *(b.insert([{"_id": i}], "counting usage") for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert "counting usage failed" in str(results[0])
    c.fail_with = None
    assert await b.insert([{"_id": 0}], "test") == [True]


async def test_nothing_to_insert() -> None:
    c = FakeCollection()
    assert await batcher(c).insert([], "test") == []
    assert c.calls == []


async def test_inserts_started_together_share_the_first_round_trip() -> None:
    """Like a message's ``sent`` step and its usage row: the second starts one task later."""
    c = FakeCollection()
    b = batcher(c)

    async def one_task_later() -> list[list[bool]]:
        return await asyncio.gather(b.insert([{"_id": "usage"}], "test"))

    assert await asyncio.gather(b.insert([{"_id": "sent"}], "test"), one_task_later()) == [
        [True],
        [[True]],
    ]
    assert c.calls == [["sent", "usage"]]


async def test_inserts_hands_out_one_batcher_per_collection() -> None:
    class FakeDb(dict[str, FakeCollection]):
        def __missing__(self, name: str) -> FakeCollection:
            self[name] = FakeCollection()
            return self[name]

    inserts = Inserts(FakeDb())  # type: ignore[arg-type]
    assert inserts.into("replies") is inserts.into("replies")
    assert inserts.into("replies") is not inserts.into("conversation_messages")


@pytest.mark.parametrize("n", [1, 7])
async def test_callers_arriving_during_a_round_trip_go_in_the_next_one(n: int) -> None:
    c = FakeCollection()
    b = batcher(c)
    first = asyncio.ensure_future(b.insert([{"_id": "first"}], "test"))
    await c.started.wait()  # the first round trip is under way
    later = [b.insert([{"_id": f"later{i}"}], "test") for i in range(n)]
    assert await asyncio.gather(first, *later) == [[True]] * (n + 1)
    assert c.calls == [["first"], [f"later{i}" for i in range(n)]]


class SlowCollection(FakeCollection):
    """Records how many ``insert_many`` calls of all collections sharing ``log`` overlap."""

    def __init__(self, log: dict[str, int]) -> None:
        super().__init__()
        self.log = log

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool) -> None:
        self.log["now"] += 1
        self.log["most"] = max(self.log["most"], self.log["now"])
        try:
            await asyncio.sleep(0)
            await super().insert_many(docs, ordered)
        finally:
            self.log["now"] -= 1


async def test_batchers_sharing_a_gate_write_one_at_a_time_and_gather_the_waiting() -> None:
    log = {"now": 0, "most": 0}
    a, b = SlowCollection(log), SlowCollection(log)
    gate = WriteGate()
    into_a, into_b = InsertBatcher(a, gate=gate), InsertBatcher(b, gate=gate)  # type: ignore[arg-type]
    first = asyncio.ensure_future(into_a.insert([{"_id": "a0"}], "test"))
    await a.started.wait()  # a's first round trip holds the gate
    results = await asyncio.gather(
        first,
        *(into_b.insert([{"_id": f"b{i}"}], "test") for i in range(3)),
        *(into_a.insert([{"_id": f"a{i}"}], "test") for i in range(1, 3)),
    )
    assert results == [[True]] * 6
    assert log["most"] == 1  # never two writes at once
    assert b.calls == [["b0", "b1", "b2"]]  # those waiting for the gate went together
    assert a.calls == [["a0"], ["a1", "a2"]]


async def test_without_a_gate_collections_write_concurrently() -> None:
    log = {"now": 0, "most": 0}
    a, b = SlowCollection(log), SlowCollection(log)
    await asyncio.gather(
        InsertBatcher(a).insert([{"_id": 1}], "test"),  # type: ignore[arg-type]
        InsertBatcher(b).insert([{"_id": 1}], "test"),  # type: ignore[arg-type]
    )
    assert log["most"] == 2
