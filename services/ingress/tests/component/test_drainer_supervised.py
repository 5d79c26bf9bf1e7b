"""The spool drainer runs supervised: an unexpected exception restarts it with backoff, is
counted, and ``/ready`` shows the loop down meanwhile (degraded: webhooks are still made
durable), then up again once it runs."""

import time
from collections.abc import Callable, Sequence

from litestar.testing import TestClient

from switchboard.common.errors import PublishError
from switchboard.common.events import KafkaRecord
from switchboard.common.kafka import SendOutcome
from switchboard.ingress.app import create_app

LOOP = "loop:spool-drainer"


class ExplodingKafka:
    """Connected; ``failing`` refuses publishes as a broker would, ``exploding`` raises what
    no one expects (a bug in the publisher, a driver error nobody translated)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, KafkaRecord]] = []
        self.failing = False
        self.exploding = False
        self.calls = 0

    @property
    def connected(self) -> bool:
        return True

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None:
        self.calls += 1
        if self.exploding:
            raise RuntimeError("unexpected (fake)")
        if self.failing:
            raise PublishError("broker down (fake)")
        self.published.extend(records)

    async def publish_each(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> list[SendOutcome]:
        try:
            await self.publish_all(records, timeout_s=timeout_s)
        except PublishError as exc:
            return [exc] * len(records)
        return [None] * len(records)


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def restarts(client: TestClient) -> float:  # type: ignore[type-arg]
    for line in client.get("/metrics").text.splitlines():
        labels = 'loop="spool-drainer"' in line and 'service="ingress"' in line
        if line.startswith("switchboard_loop_restarts_total{") and labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_drainer_that_raises_is_restarted_and_ready_shows_it_down(
    tmp_path, settings_for, config_for, signer
) -> None:
    kafka = ExplodingKafka()
    path = "/webhooks/twilio/voice/status"
    with TestClient(
        app=create_app(settings_for(tmp_path), publisher=kafka, config=config_for())
    ) as client:
        eventually(lambda: client.get("/ready").json()["checks"].get(LOOP) is True, "loop up")
        before = restarts(client)
        kafka.failing = True  # the webhook goes to the spool...
        body, headers = signer.twilio(path, signer.call_status(CallSid="CA" + "1" * 32))
        assert client.post(path, content=body, headers=headers).status_code == 204
        kafka.failing, kafka.exploding = False, True  # ...and draining it raises

        def down() -> bool:
            answer = client.get("/ready")
            body = answer.json()
            return answer.status_code == 200 and body["checks"][LOOP] is False

        eventually(down, "/ready never showed the drainer down")
        assert client.get("/ready").json()["status"] == "degraded"  # still accepts durably
        eventually(lambda: restarts(client) >= before + 1, "restart not counted")
        kafka.exploding = False
        eventually(lambda: client.get("/ready").json()["status"] == "ready", "never ready again")
        assert client.get("/ready").json()["checks"][LOOP] is True
    assert [r.key for _, r in kafka.published] == [b"CA" + b"1" * 32]
