"""Nothing accepted is lost: with the broker stopped, 1,000 signed webhooks are all answered
2xx (spooled, fsync'd); once the broker is back exactly those 1,000 events arrive.

Runs a broker of its own (same jars, own ports and data) so stopping it disturbs no other test.
"""

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from switchboard.common.kafka import ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import read_records
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.app import create_app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[4]
N = int(os.environ.get("OUTAGE_N", "1000"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnKafka:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "SWITCHBOARD_KAFKA_PORT": str(self.port),
            "SWITCHBOARD_KAFKA_CONTROLLER_PORT": str(free_port()),
            "SWITCHBOARD_KAFKA_INSTANCE_DIR": str(directory),
        }

    def _run(self, verb: str) -> None:
        for _attempt in range(2):
            done = subprocess.run(
                ["bash", str(ROOT / "scripts/infra/kafka.sh"), verb],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            if done.returncode == 0:
                return
        raise AssertionError(f"kafka.sh {verb} failed twice:\n{done.stderr[-3000:]}")

    def start(self) -> None:
        self._run("start")

    def stop(self) -> None:
        self._run("stop")


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[OwnKafka]:
    broker = OwnKafka(tmp_path / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def wait_for(client: TestClient, status: str, timeout_s: float) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    while (got := client.get("/ready").json()["status"]) != status:
        assert time.monotonic() < deadline, f"/ready stayed {got!r}, wanted {status!r}"
        time.sleep(0.25)


def test_outage_loses_nothing(
    own_kafka: OwnKafka, tmp_path: Path, settings_for, config_for, signer
) -> None:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{own_kafka.port}", partitions=3)
    asyncio.run(ensure_topics(kafka, [CALL_EVENTS]))
    settings = settings_for(tmp_path / "spool").model_copy(update={"kafka": kafka})
    path = "/webhooks/twilio/voice/status"
    sids = [f"CA{uuid.uuid4().hex}" for _ in range(N)]
    with TestClient(app=create_app(settings, config=config_for())) as client:
        wait_for(client, "ready", 60)
        own_kafka.stop()
        codes = []
        for sid in sids:
            body, headers = signer.twilio(path, signer.call_status(CallSid=sid))
            codes.append(client.post(path, content=body, headers=headers).status_code)
        assert codes == [204] * N
        assert client.get("/ready").json()["status"] == "degraded"
        assert f"switchboard_ingress_spool_depth {float(N)}" in client.get("/metrics").text
        own_kafka.start()
        wait_for(client, "ready", 120)  # spool drained
    records = asyncio.run(
        read_records(
            kafka, CALL_EVENTS, {}, until=lambda rs: len({r.key for r in rs}) >= N, timeout_s=60
        )
    )
    ids_by_key: dict[bytes, set[bytes]] = {}
    for r in records:
        ids_by_key.setdefault(r.key, set()).add(dict(r.headers)["ce_id"])
    assert set(ids_by_key) == {s.encode() for s in sids}
    # duplicates may happen only with the same event id
    assert all(len(ids) == 1 for ids in ids_by_key.values())
