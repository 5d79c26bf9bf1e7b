"""Group commit: concurrent inserts share one insert_many, each keeps its own outcome."""

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from switchboard.ai.adapters.batching import InsertBatcher
from switchboard.ai.errors import StoreUnavailable


class FakeCollection:
    """Unique ``_id``s like a server; ``insert_many`` yields once, as a round trip would."""

    def __init__(self) -> None:
        self.ids: set[Any] = set()
        self.calls: list[list[Any]] = []
        self.fail_with: BaseException | None = None
        self.reject: set[Any] = set()
        """``_id``s failing with a non-duplicate write error."""

    async def insert_many(self, docs: list[dict[str, Any]], ordered: bool) -> None:
        assert ordered is False
        self.calls.append([d["_id"] for d in docs])
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


@pytest.mark.parametrize("n", [1, 7])
async def test_callers_arriving_during_a_round_trip_go_in_the_next_one(n: int) -> None:
    c = FakeCollection()
    b = batcher(c)
    first = asyncio.ensure_future(b.insert([{"_id": "first"}], "test"))
    await asyncio.sleep(0)  # the first round trip is under way
    later = [b.insert([{"_id": f"later{i}"}], "test") for i in range(n)]
    assert await asyncio.gather(first, *later) == [[True]] * (n + 1)
    assert c.calls == [["first"], [f"later{i}" for i in range(n)]]
