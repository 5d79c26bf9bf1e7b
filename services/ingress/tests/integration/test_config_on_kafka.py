"""The ingress follows the control plane's records on the real Kafka: it is not ready before
the configuration is loaded, a rotation is in force within seconds, and a restart while Kafka
is away verifies webhooks from the snapshot it saved."""

import asyncio
import time
from typing import Any

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from switchboard.common.config import Channel, TwilioAccount
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import ConfigPublisher, config_settings, free_port
from switchboard.ingress.app import create_app

pytestmark = pytest.mark.integration

PATH = "/webhooks/twilio/voice/status"
SID = "AC" + "4" * 32
OLD, NEW = "kafka-config-token-old", "kafka-config-token-new"
NUMBER = "+15005550006"


def account(*tokens: str) -> TwilioAccount:
    return TwilioAccount(id=SID, tenants=("k",), auth_tokens=tuple(SecretStr(t) for t in tokens))


def status_with(client: TestClient, signer: Any, token: str) -> int:  # type: ignore[type-arg]
    params = signer.call_status(AccountSid=SID, CallSid=f"CA{time.monotonic_ns()}")
    body, headers = signer.twilio(PATH, params, token=token)
    return int(client.post(PATH, content=body, headers=headers).status_code)


def until(check: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def test_follows_rotations_live_and_restarts_from_its_snapshot_without_kafka(
    tmp_path, kafka_settings: KafkaSettings, settings_for, signer
) -> None:
    config = config_settings()

    async def publish(*entities: Any) -> None:
        async with ConfigPublisher(kafka_settings, config) as publisher:
            await publisher.put(*entities)

    asyncio.run(publish(account(OLD), Channel(kind="phone", id=NUMBER, tenant="k", account_id=SID)))
    settings = settings_for(tmp_path).model_copy(update={"kafka": kafka_settings, "config": config})
    with TestClient(app=create_app(settings)) as client:
        until(lambda: client.get("/ready").status_code == 200)
        checks = client.get("/ready").json()["checks"]
        assert checks["config"] is True and checks["config-live"] is True
        assert status_with(client, signer, OLD) == 204

        asyncio.run(publish(account(NEW, OLD)))
        until(lambda: status_with(client, signer, NEW) == 204)
        assert status_with(client, signer, OLD) == 204  # the overlap
        asyncio.run(publish(account(NEW)))
        until(lambda: status_with(client, signer, OLD) == 403)
        assert status_with(client, signer, NEW) == 204
        until(lambda: (tmp_path / "spool" / f"config-snapshot.{config.topic}.json").exists())
        time.sleep(1.5)  # the snapshot loop saves within a second of the last change

    # Restarted while Kafka is away: the snapshot verifies webhooks, the spool keeps them.
    away = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=2000)
    spool = settings.spool.model_copy(update={"config_snapshot_wait_s": 2.0})
    settings = settings.model_copy(update={"kafka": away, "spool": spool})
    with TestClient(app=create_app(settings)) as client:
        # First the live view is waited for (503: a provider retries) ...
        assert status_with(client, signer, NEW) == 503
        # ... then, Kafka still away, the saved one is used.
        until(lambda: client.get("/ready").status_code == 200)
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "degraded"
        assert ready.json()["checks"]["config-live"] is False
        assert status_with(client, signer, NEW) == 204
        assert status_with(client, signer, OLD) == 403
        assert "switchboard_ingress_spool_depth 1.0" in client.get("/metrics").text


def test_not_ready_and_503_until_the_configuration_is_read(tmp_path, settings_for, signer) -> None:
    away = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=2000)
    settings = settings_for(tmp_path).model_copy(
        update={"kafka": away, "config": config_settings()}
    )
    with TestClient(app=create_app(settings)) as client:
        assert client.get("/ready").status_code == 503
        assert status_with(client, signer, OLD) == 503
