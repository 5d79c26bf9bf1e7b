"""A spooled record that can never be published holds nothing back: with one at the head of
the spool (over the record limit, written straight into the spool file as an older version
would have), an ingress on the real Kafka publishes everything behind it, sets it aside in the
spool's dead-letter table, and the operator CLI lists, shows, exports and requeues it."""

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from litestar.testing import TestClient
from typer.testing import CliRunner

from switchboard.common.events import (
    CallReport,
    CallStatus,
    CallStatusChanged,
    Event,
    KafkaRecord,
    decode,
    encode,
)
from switchboard.common.kafka import ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import end_offsets, read_records, unique
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.__main__ import cli
from switchboard.ingress.app import create_app
from switchboard.ingress.spool import Spool

pytestmark = pytest.mark.integration
POISON_BYTES = 1_200_000


def status(call_id: str) -> tuple[str, KafkaRecord]:
    data = CallStatusChanged(
        provider="twilio",
        call_id=call_id,
        status=CallStatus.RINGING,
        occurred_at=datetime.now(UTC),
    )
    return CALL_EVENTS, encode(Event(id=str(uuid.uuid4()), source="/t", data=data), call_id)


def old_report(call_id: str) -> tuple[str, KafkaRecord]:
    """A call report as the ingress published it before the record limit: raw and the
    transcript again, 1.3 MB."""
    transcript = "AI: Hello.\nUser: I would like to move my appointment.\n" * 11_000
    data = CallReport(
        provider="vapi",
        call_id=call_id,
        status=CallStatus.COMPLETED,
        occurred_at=datetime.now(UTC),
        transcript=transcript,
        raw={"message": {"artifact": {"transcript": transcript}}},
    )
    return CALL_EVENTS, encode(Event(id=str(uuid.uuid4()), source="/t", data=data), call_id)


async def spool_directly(directory: Path, items: Sequence[tuple[str, KafkaRecord]]) -> None:
    spool = Spool(directory, max_events=1000)
    await spool.open()
    await spool.append(items)
    await spool.close()


def spool_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["spool", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_poison_record_at_the_head_holds_nothing_back_and_the_cli_handles_it(
    tmp_path, kafka_settings: KafkaSettings, settings_for, config_for, signer
) -> None:
    asyncio.run(ensure_topics(kafka_settings, [CALL_EVENTS]))
    settings = settings_for(tmp_path).model_copy(update={"kafka": kafka_settings})
    directory = settings.spool.directory
    run = uuid.uuid4().hex[:12]
    poison_key = f"poison-{run}".encode()
    poison = KafkaRecord(poison_key, b"\xff" * POISON_BYTES, {"ce_type": b"from.an.older.version"})
    behind = [status(f"CA{run}{n}") for n in range(5)]
    report = old_report(f"call-{run}")
    asyncio.run(spool_directly(directory, [(CALL_EVENTS, poison), report, *behind]))
    live = "CA" + uuid.uuid4().hex
    start = asyncio.run(end_offsets(kafka_settings, CALL_EVENTS))

    with TestClient(app=create_app(settings, config=config_for())) as client:
        path = "/webhooks/twilio/voice/status"
        body, headers = signer.twilio(path, signer.call_status(CallSid=live))
        assert client.post(path, content=body, headers=headers).status_code == 204
        wanted = {r.key for _, r in behind} | {report[1].key, live.encode()}
        records = asyncio.run(
            read_records(
                kafka_settings,
                CALL_EVENTS,
                start,
                until=lambda rs: wanted <= {r.key for r in rs},
                timeout_s=60,
            )
        )
        arrived = {r.key: r for r in records if r.key in wanted}
        assert set(arrived) == wanted, "records behind the poison never reached Kafka"
        trimmed = arrived[report[1].key]
        data = decode(trimmed.headers, trimmed.value).data
        assert isinstance(data, CallReport) and data.truncated and "raw" in data.original_sizes
        assert poison_key not in {r.key for r in records}
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the spool never emptied"
            time.sleep(0.2)
        metrics = client.get("/metrics").text
        assert "switchboard_ingress_spool_dead_letters 1.0" in metrics
        assert 'switchboard_ingress_spool_dead_lettered_total{reason="too_large"}' in metrics
        # While the ingress holds the file, the CLI leaves it alone and says so.
        code, out, err = spool_cli("list", "-d", str(directory))
        assert code == 1 and "in use by a running ingress" in err and "stop that ingress" in err

    # The ingress is stopped: the operator's commands.
    code, out, err = spool_cli("list", "-d", str(directory))
    assert code == 0, err
    assert "spool-0.db: 1 dead letter(s), 0 waiting" in out
    [line] = [ln for ln in out.splitlines() if "too_large" in ln]
    seq = line.split()[0]
    assert "from.an.older.version" in line and f"{POISON_BYTES} B" in line

    code, out, err = spool_cli("show", seq, "-d", str(directory))
    assert code == 0, err
    shown = json.loads(out[: out.index("\nvalue")])
    assert shown["reason"] == "too_large" and shown["key"] == poison_key.decode()
    assert "over the limit of 1000000" in shown["error"]
    assert "value (base64):" in out  # not text

    exported = tmp_path / "dead.jsonl"
    code, out, err = spool_cli("export", "-d", str(directory), "-o", str(exported))
    assert code == 0 and "exported 1 dead letter(s)" in err
    [row] = [json.loads(ln) for ln in exported.read_text().splitlines()]
    assert base64.b64decode(row["value_base64"]) == poison.value
    assert row["seq"] == int(seq) and row["file"] == "spool-0.db"

    code, out, err = spool_cli("requeue", seq, "-d", str(directory))
    assert code == 0 and "requeued 1 dead letter(s)" in out
    code, out, err = spool_cli("list", "-d", str(directory))
    assert "spool-0.db: 0 dead letter(s), 1 waiting" in out
    code, out, err = spool_cli("export", "-d", str(directory), "-o", str(exported), "--remove")
    assert code == 0 and "exported 0 dead letter(s)" in err


def test_a_record_the_broker_refuses_is_set_aside_and_the_rest_of_its_batch_goes_through(
    tmp_path, kafka_settings: KafkaSettings, settings_for, config_for
) -> None:
    """A topic whose ``max.message.bytes`` is below the ingress's record limit: the broker
    refuses the whole batch the big record is in; the others, retried on their own, go
    through, and the big one, refused alone, is set aside with the broker's error."""
    topic = unique("t.small")
    asyncio.run(create_topic(kafka_settings, topic, {"max.message.bytes": "4000"}))
    settings = settings_for(tmp_path).model_copy(update={"kafka": kafka_settings})
    run = uuid.uuid4().hex[:12]
    big = KafkaRecord(f"big-{run}".encode(), b"b" * 8_000, {"ce_type": b"x"})
    small = [KafkaRecord(f"small-{run}-{n}".encode(), b"s" * 100, {}) for n in range(3)]
    asyncio.run(spool_directly(settings.spool.directory, [(topic, r) for r in [big, *small]]))
    with TestClient(app=create_app(settings, config=config_for())) as client:
        records = asyncio.run(
            read_records(kafka_settings, topic, {}, until=lambda rs: len(rs) >= 3, timeout_s=60)
        )
        assert sorted(r.key for r in records) == sorted(r.key for r in small)
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["status"] != "ready":
            assert time.monotonic() < deadline, "the spool never emptied"
            time.sleep(0.2)
        assert "switchboard_ingress_spool_dead_letters 1.0" in client.get("/metrics").text
    code, out, _ = spool_cli("list", "-d", str(settings.spool.directory))
    assert code == 0 and "refused" in out and "MessageSizeTooLarge" in out


async def create_topic(settings: KafkaSettings, topic: str, config: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=1, replication_factor=1, topic_configs=config)]
        )
    finally:
        await admin.close()
