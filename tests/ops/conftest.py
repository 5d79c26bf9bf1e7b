"""Fixtures of the runbook tests: run a scripts/ops script, start real service processes."""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.common.testing import ServiceProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120.0

RunScript = Callable[..., subprocess.CompletedProcess[str]]
StartService = Callable[..., ServiceProcess]


@pytest.fixture(scope="session")
def ops_script() -> RunScript:
    """``ops_script("x.sh", *args, env={...}, stdin="...")`` runs ``scripts/ops/x.sh``."""

    def run(
        script: str, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(ROOT / "scripts/ops" / script), *args],
            env={**os.environ, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def start_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartService]:
    """``start_service(name, ["switchboard.x", "serve"], env)`` on a free port (given under every
    port variable the services read, as scripts/services.sh does); stopped after the test."""
    logdir = tmp_path_factory.mktemp("service-logs")
    started: list[ServiceProcess] = []

    def start(name: str, args: list[str], env: dict[str, str]) -> ServiceProcess:
        port = free_port()
        ports = {
            f"SWITCHBOARD_{var}": str(port)
            for var in ("HTTP__PORT", "API__PORT", "HTTP__API_PORT", "HTTP__WORKER_PORT")
        }
        # The URL Twilio signs must be the one the test posts to (as scripts/services.sh sets it).
        ports["SWITCHBOARD_HTTP__PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        service = ServiceProcess(
            f"{name}-{len(started)}",
            args,
            {"SWITCHBOARD_LOG__LEVEL": "INFO", **ports, **env},
            port,
            logdir,
            ready_timeout_s=READY_TIMEOUT_S,
        )
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()  # safe on a service the test stopped already


def scrape(service: ServiceProcess) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The service's /metrics: sample name → {sorted label pairs: value}."""
    response = httpx.get(service.url + "/metrics", timeout=10)
    response.raise_for_status()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


@pytest.fixture(scope="session")
def scrape_metrics() -> Callable[
    [ServiceProcess], dict[str, dict[tuple[tuple[str, str], ...], float]]
]:
    return scrape
