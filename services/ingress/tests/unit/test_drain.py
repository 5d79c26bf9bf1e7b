"""The drainer never lets one spooled record hold back the rest: records that can never be
published move to the spool's dead-letter table, and a Kafka outage sets nothing aside."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from switchboard.common.errors import PublishError
from switchboard.common.events import (
    CallReport,
    CallStatus,
    CallStatusChanged,
    Event,
    KafkaRecord,
    decode,
    encode,
)
from switchboard.ingress.drain import SpoolDrainer
from switchboard.ingress.record_limit import RecordLimit
from switchboard.ingress.spool import Spool

LIMIT = 20_000


def status(n: int) -> tuple[str, KafkaRecord]:
    data = CallStatusChanged(
        provider="twilio",
        call_id=f"CA{n}",
        status=CallStatus.RINGING,
        occurred_at=datetime.now(UTC),
    )
    return "call.events", encode(Event(id=f"id{n}", source="/t", data=data), f"CA{n}")


def long_report(n: int) -> tuple[str, KafkaRecord]:
    data = CallReport(
        provider="vapi",
        call_id=f"call{n}",
        status=CallStatus.COMPLETED,
        occurred_at=datetime.now(UTC),
        transcript="t" * 15_000,
        raw={"message": {"artifact": {"transcript": "t" * 15_000}}},
    )
    return "call.events", encode(Event(id=f"r{n}", source="/t", data=data), f"call{n}")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path, max_events=1000)
    asyncio.run(spool.open())
    yield spool
    asyncio.run(spool.close())


def drainer(kafka, spool: Spool, *, max_attempts: int = 10) -> SpoolDrainer:
    return SpoolDrainer(
        kafka,
        spool,
        RecordLimit(LIMIT),
        batch=100,
        retry_s=0.001,
        publish_timeout_s=1.0,
        max_attempts=max_attempts,
        on_published=lambda: None,
    )


def dead(spool: Spool) -> list[tuple[int, str, str, int]]:
    assert spool._db is not None
    return spool._db.execute(
        "SELECT seq, reason, error, attempts FROM dead_letters ORDER BY seq"
    ).fetchall()


def keys(kafka) -> list[bytes | None]:
    return [r.key for _, r in kafka.published]


async def drain_until_settled(d: SpoolDrainer, spool: Spool, passes: int = 200) -> None:
    for _ in range(passes):
        if spool.depth == 0:
            return
        await d.drain_once()
        await asyncio.sleep(0.002)
    raise AssertionError(f"{spool.depth} record(s) still waiting")


async def test_a_kafka_outage_sets_nothing_aside_and_keeps_the_order(kafka, spool) -> None:
    await spool.append([status(n) for n in range(5)])
    d = drainer(kafka, spool, max_attempts=2)
    kafka.failing = True
    for _ in range(20):
        with pytest.raises(PublishError):
            await d.drain_once()
    assert dead(spool) == [] and spool.depth == 5 and d.suspects == 0
    kafka.failing = False
    assert await d.drain_once() == 5
    assert keys(kafka) == [f"CA{n}".encode() for n in range(5)]


async def test_an_over_limit_record_at_the_head_is_set_aside_at_once(kafka, spool) -> None:
    """As an older version spooled them: bytes over the limit that are no event we know, and
    a call report over the limit (trimmed now, like a new webhook's)."""
    poison = KafkaRecord(b"poison", b"\xff" * (LIMIT + 1), {"ce_type": b"?"})
    await spool.append([("call.events", poison), long_report(1), status(2), status(3)])
    d = drainer(kafka, spool)
    assert await d.drain_once() == 4  # one pass: nothing waits behind the poison
    assert keys(kafka) == [b"call1", b"CA2", b"CA3"]
    [(seq, reason, error, attempts)] = dead(spool)
    assert (seq, reason, attempts) == (1, "too_large", 0)
    assert "over the limit of 20000" in error
    report = decode(kafka.published[0][1].headers, kafka.published[0][1].value)
    assert isinstance(report.data, CallReport) and report.data.truncated
    assert spool.depth == 0 and spool.dead_letters == 1


async def test_a_refused_record_is_retried_alone_once_then_set_aside(kafka, spool) -> None:
    """The broker fails a whole batch with the bad record in it: the others go through on
    their own in the very next pass; the bad one, refused alone, is set aside."""
    await spool.append([status(0), status(1), status(2)])
    kafka.refused = {b"CA0"}
    d = drainer(kafka, spool)
    assert await d.drain_once() == 0  # all refused together: suspects, no pause
    assert d.suspects == 3
    await d.drain_once()
    assert kafka.sends == [[b"CA0", b"CA1", b"CA2"], [b"CA0"], [b"CA1"], [b"CA2"]]
    assert keys(kafka) == [b"CA1", b"CA2"]
    [(_, reason, error, attempts)] = dead(spool)
    assert reason == "refused" and "too large" in error and attempts == 2
    await spool.append([status(3)])
    assert await d.drain_once() == 1 and keys(kafka)[-1] == b"CA3"


async def test_a_record_failing_while_others_go_through_is_set_aside_after_max_attempts(
    kafka, spool
) -> None:
    await spool.append([status(0), status(1), status(2)])
    kafka.flaky = {b"CA0"}
    d = drainer(kafka, spool, max_attempts=3)
    assert await d.drain_once() == 2  # the ones behind it were not held back
    assert keys(kafka) == [b"CA1", b"CA2"]
    for n in range(3, 8):  # more traffic behind it: each goes through in its first pass
        await spool.append([status(n)])
        await asyncio.sleep(0.01)
        await d.drain_once()
        assert keys(kafka)[-1] == f"CA{n}".encode()
    await drain_until_settled(d, spool)
    assert all(send == [b"CA0"] for send in kafka.sends[1:] if b"CA0" in send)  # apart
    [(_, reason, error, attempts)] = dead(spool)
    assert (reason, attempts) == ("attempts", 3) and "no leader" in error
    assert keys(kafka) == [f"CA{n}".encode() for n in range(1, 8)]


async def test_a_suspect_that_recovers_is_published_and_forgotten(kafka, spool) -> None:
    await spool.append([status(0), status(1)])
    kafka.flaky = {b"CA0"}
    d = drainer(kafka, spool, max_attempts=5)
    await d.drain_once()
    kafka.flaky = set()
    await drain_until_settled(d, spool)
    assert keys(kafka) == [b"CA1", b"CA0"] and dead(spool) == [] and d.suspects == 0


async def test_the_drainer_loop_moves_on_past_a_poison_head(kafka, spool) -> None:
    """``run`` (as supervised in the app) with a refused head: everything behind it arrives."""
    await spool.append([status(0), *[status(n) for n in range(1, 50)]])
    kafka.refused = {b"CA0"}
    d = drainer(kafka, spool)
    task = asyncio.create_task(d.run())
    try:
        for _ in range(500):
            if spool.depth == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert keys(kafka) == [f"CA{n}".encode() for n in range(1, 50)]
    assert [row[1] for row in dead(spool)] == ["refused"]
