"""A Kafka of a test's own — one broker or a cluster — run by ``scripts/infra/kafka.sh`` with
free ports and its own data directory, so a test can kill a broker without disturbing any other
test or checkout. Tests only.
"""

import os
import shutil
import socket
import subprocess
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from switchboard.common.settings import KafkaSettings

SCRIPT_TIMEOUT_S = 300.0


def _free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports nothing listens on right now."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in ports:
            ports.append(port)
    return ports


class LocalKafka:
    """``start()``, ``kill(node)``, ``start(node)``, ``stop()`` — each a ``kafka.sh`` call."""

    def __init__(self, repo: Path, directory: Path, *, brokers: int = 1) -> None:
        self.script = repo / "scripts/infra/kafka.sh"
        self.directory = directory
        self.brokers = brokers
        self._pick_ports()

    def _pick_ports(self) -> None:
        ports = _free_ports(2 * self.brokers)
        self.ports, self.controller_ports = ports[: self.brokers], ports[self.brokers :]

    @property
    def bootstrap(self) -> str:
        """Every broker, as services are configured: ``127.0.0.1:p1,127.0.0.1:p2,...``."""
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def settings(self, **overrides: object) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, **overrides)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SWITCHBOARD_KAFKA_BROKERS": str(self.brokers),
            "SWITCHBOARD_KAFKA_INSTANCE_DIR": str(self.directory),
            "SWITCHBOARD_KAFKA_PORT": str(self.ports[0]),
            "SWITCHBOARD_KAFKA_CONTROLLER_PORT": str(self.controller_ports[0]),
            "SWITCHBOARD_KAFKA_PORTS": ",".join(map(str, self.ports)),
            "SWITCHBOARD_KAFKA_CONTROLLER_PORTS": ",".join(map(str, self.controller_ports)),
            # Three JVMs starting at once on two shared cores are slow; never give up early.
            "SWITCHBOARD_KAFKA_READY_TIMEOUT": os.environ.get(
                "SWITCHBOARD_KAFKA_READY_TIMEOUT", "180"
            ),
        }

    def run(self, verb: str, node: int | None = None) -> str:
        """``kafka.sh VERB [NODE]``; its stdout, or AssertionError with the script's output."""
        args = ["bash", str(self.script), verb, *([str(node)] if node is not None else [])]
        done = subprocess.run(  # noqa: S603 - our own script
            args, env=self.env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
        )
        if done.returncode != 0:
            raise AssertionError(f"kafka.sh {verb} {node or ''} failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def start(self, node: int | None = None) -> None:
        """Start every node (or one) and wait until it is ready; one retry after a stop. A
        whole cluster that fails its first start is retried on a clean directory and new ports
        (another process may have taken a port in between)."""
        try:
            self.run("start", node)
        except AssertionError:
            self.stop(node)
            if node is None:
                shutil.rmtree(self.directory, ignore_errors=True)
                self._pick_ports()
            self.run("start", node)

    def stop(self, node: int | None = None) -> None:
        self.run("stop", node)

    def kill(self, node: int) -> None:
        """SIGKILL, as a crash."""
        self.run("kill", node)

    def destroy(self) -> None:
        """SIGKILL every node and delete the data: the quick end of a throwaway cluster (a
        controlled stop of the last node waits for a quorum that is gone)."""
        for node in range(1, self.brokers + 1):
            self.kill(node)
        shutil.rmtree(self.directory, ignore_errors=True)

    def pid(self, node: int) -> int | None:
        out = self.run("pid", node).strip()
        return int(out) if out else None


async def partition_leaders(
    settings: KafkaSettings, topic: str
) -> dict[int, tuple[int, tuple[int, ...]]]:
    """partition → (leader node id, in-sync replicas) from a fresh metadata request."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=5000
    )
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return {p["partition"]: (p["leader"], tuple(p["isr"])) for p in described["partitions"]}
