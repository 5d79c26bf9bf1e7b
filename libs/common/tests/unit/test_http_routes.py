"""The health, readiness and metrics routes every service mounts."""

from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client import CollectorRegistry, Counter

from switchboard.common.http import health_routes


async def ok() -> bool:
    return True


async def broken() -> bool:
    raise RuntimeError("down")


def test_metrics_answer_one_charset() -> None:
    registry = CollectorRegistry()
    Counter("things", "Things.", registry=registry).inc()
    with TestClient(Litestar(health_routes({"ok": ok}, registry))) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].count("charset") == 1
    assert "things_total 1.0" in response.text


def test_ready_names_the_failing_check() -> None:
    with TestClient(Litestar(health_routes({"ok": ok, "db": broken}))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "checks": {"ok": True, "db": False}}
