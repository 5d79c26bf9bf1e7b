"""The harness's own stack: Kafka, PostgreSQL, Redis and FerretDB from scripts/infra under a
directory of its own, and every service as a real process; and the blows it takes.

Nothing here touches ``make up``'s servers or another test's: the directory and every port are
the stack's own (``wiring.py``). The Kafka jars and the FerretDB binary are not collected or
built again for it: its ``kafka/libs`` and ``bin/ferretdb`` are links to those scripts/infra
installed in the shared local directory.

Services run in their own process group (``start_new_session``), so kill -9, SIGSTOP and
SIGCONT reach every process a service started. ``switchboard.common.testing.ServiceProcess``
is not reused: it truncates its log at each start and signals one process only.
"""

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Final

import httpx

from switchboard.bench.cpu import server_roots
from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.wiring import (
    SERVICE_COMMANDS,
    Ports,
    clean_environ,
    control_plane_env,
    infra_env,
    service_env,
    stack_keys,
)
from switchboard.common.auth import LocalSigner

START_ORDER: Final = tuple(SERVICE_COMMANDS)
READY_TIMEOUT_S: Final = 180.0
"""A restarted service may take long on a busy 2-core box (imports alone are seconds)."""
SERVER_SCRIPTS: Final = ("kafka", "postgres", "redis", "ferretdb")


class StackError(Exception):
    """The stack could not be set up, or a server or service would not come back."""


class Service:
    """One service process, which the harness can kill, freeze, thaw and start again."""

    def __init__(self, name: str, env: dict[str, str], port: int, log_path: Path) -> None:
        self.name, self.env, self.port, self.log_path = name, env, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.frozen = False
        self.spent_cpu_s = 0.0
        """CPU seconds of the service's earlier lives (``cpu_s`` adds the current one)."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ready_path(self) -> str:
        return "/health" if self.name == "provider-sim" else "/ready"

    def start(self) -> None:
        module, command = SERVICE_COMMANDS[self.name]
        self._log = self.log_path.open("ab")  # appended: every life of the service in one log
        self._log.write(f"\n=== chaos: start {time.time():.3f}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, command],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.frozen = False

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    @property
    def cpu_s(self) -> float:
        """CPU seconds used so far, every life of the service together (the process and the
        children it waited for)."""
        return self.spent_cpu_s + self._current_cpu_s()

    def _current_cpu_s(self) -> float:
        if self.proc is None or self.proc.returncode is not None:
            return 0.0
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()  # utime stime cutime cstime: fields 14-17
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def _bank_cpu(self) -> None:
        self.spent_cpu_s += self._current_cpu_s()

    def kill(self) -> None:
        """kill -9 the whole process group: none of the service's shutdown code runs."""
        self._bank_cpu()
        self._signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=30)
        self._close_log()

    def freeze(self) -> None:
        self._signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)
        self.frozen = False

    def stop(self) -> None:
        if self.frozen:
            self.thaw()
        if self.alive:
            assert self.proc is not None
            self._bank_cpu()
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def ready(self) -> bool:
        try:
            return httpx.get(self.url + self.ready_path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> float:
        """Seconds until the service answers its readiness probe; StackError otherwise."""
        began = time.monotonic()
        while time.monotonic() - began < timeout_s:
            if not self.alive:
                raise StackError(f"{self.name} exited:\n{self.log_tail()}")
            if self.ready():
                return time.monotonic() - began
            time.sleep(0.2)
        raise StackError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Stack:
    """The isolated stack of one chaos run."""

    def __init__(self, options: ChaosOptions, ports: Ports | None = None) -> None:
        self.options = options
        self.root = options.root
        self.dir = options.stack_dir
        self.ports = ports or Ports.free(options.brokers)
        self.logs = self.dir / "log"
        self.spool = self.dir / "spool"
        self.spool_mounted = False
        self.services: dict[str, Service] = {}
        self.signer = LocalSigner()
        """Signs the tokens of the stack's APIs (a new key per run)."""

    # --- servers ------------------------------------------------------------------------------

    @property
    def infra_env(self) -> dict[str, str]:
        """The calling shell's environment minus its ``SWITCHBOARD_`` variables (a slot's
        ports, an instance directory), plus the stack's."""
        return {**clean_environ(), **infra_env(self.dir, self.ports)}

    def script(self, component: str, verb: str, *args: str) -> None:
        """``scripts/infra/<component>.sh <verb> [args]`` on the stack's servers."""
        done = subprocess.run(
            ["bash", str(self.root / "scripts" / "infra" / f"{component}.sh"), verb, *args],
            env=self.infra_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"{component}.sh {verb} failed:\n{done.stderr[-3000:]}")

    def kill_kafka(self) -> None:
        """kill -9 every broker."""
        for node in range(1, len(self.ports.kafka) + 1):
            self.kill_broker(node)

    def kill_broker(self, node: int) -> None:
        """kill -9 one broker (``kafka.sh kill``: no controlled shutdown, no flush)."""
        self.script("kafka", "kill", str(node))

    def fill_spool(self) -> int:
        """Fill the spool's disk to the last byte; returns how many bytes that took."""
        fd = os.open(self.spool / "chaos-filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        written = 0
        try:
            for size in (1 << 20, 4096, 1):  # big blocks, then what is left
                block = b"\0" * size
                with contextlib.suppress(OSError):  # ENOSPC: on to smaller blocks
                    while True:
                        written += os.write(fd, block)
        finally:
            os.close(fd)
        return written

    def free_spool(self) -> None:
        (self.spool / "chaos-filler").unlink(missing_ok=True)

    # --- services -----------------------------------------------------------------------------

    def service(self, name: str) -> Service:
        return self.services[name]

    def process_roots(self) -> dict[str, list[int]]:
        """Each running server's and service's process, for the CPU split (cpu.py)."""
        roots = server_roots(self.dir)
        for name, service in self.services.items():
            if service.proc is not None and service.proc.returncode is None:
                roots[name] = [service.proc.pid]
        return roots

    def url(self, name: str) -> str:
        return self.ports.url(name)

    def dialer_commands_group(self) -> str:
        """The dial.commands consumer group of the dialer worker running now (the dialer
        names it after its worker id, host name and pid by default)."""
        proc = self.services["dialer"].proc
        return f"dialer-commands-{socket.gethostname()}-{proc.pid if proc else 0}"

    def restart(self, name: str) -> float:
        """Start a (killed) service again; seconds until it is ready."""
        service = self.services[name]
        if service.alive:
            service.stop()
        service.start()
        return service.wait_ready()

    # --- lifecycle ----------------------------------------------------------------------------

    def up(self) -> None:
        """A fresh stack: earlier runs' data wiped, servers started, databases migrated,
        services started and ready."""
        self._wipe()
        self.logs.mkdir(parents=True, exist_ok=True)
        self._link_shared()
        self._mount_spool()
        self.script("infra", "start")  # with its one retry of a server slow to come up
        # Every service follows the stack's own config topic and distribution ring.
        keys = {**stack_keys(self.signer), **control_plane_env(self.ports, self.options)}
        for name in START_ORDER:
            env = service_env(self.root, name, self.ports, self.options, self.spool, keys)
            self.services[name] = Service(
                name,
                env,
                self.ports.services[name],
                self.logs / f"{name}.log",
            )
        for module in ("switchboard.history", "switchboard.dialer"):
            env = self.services[module.split(".")[1]].env
            done = subprocess.run(
                [sys.executable, "-m", module, "migrate"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                raise StackError(f"{module} migrate failed:\n{done.stdout[-2000:]}")
        for service in self.services.values():
            service.start()
        for service in self.services.values():
            service.wait_ready()

    def down(self) -> None:
        """Stop every service and server the stack started; the data stays for a post-mortem
        (the next ``up`` wipes it)."""
        for service in reversed(list(self.services.values())):
            service.stop()
        if self.spool_mounted:
            self.free_spool()
        for component in reversed(SERVER_SCRIPTS):
            with contextlib.suppress(StackError):
                self.script(component, "stop")
        self._unmount_spool()

    def _wipe(self) -> None:
        for component in reversed(SERVER_SCRIPTS):  # a crashed earlier run's servers
            if self.dir.exists():
                with contextlib.suppress(StackError):
                    self.script(component, "stop")
        self._unmount_spool(force=True)
        # postgres.sh falls back to /tmp/switchboard-pg-<hash> when the postgres user cannot
        # reach the directory; that copy goes too.
        digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        shutil.rmtree(Path(f"/tmp/switchboard-pg-{digest}"), ignore_errors=True)  # noqa: S108
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)

    def _link_shared(self) -> None:
        """Point the stack's Kafka jars and FerretDB binary at the shared installation (the
        scripts install it there first if need be)."""
        shared = Path(os.environ.get("SWITCHBOARD_LOCAL_DIR", self.root / ".local")).resolve()
        if shared == self.dir.resolve():
            return
        env = {**self.infra_env, "SWITCHBOARD_LOCAL_DIR": str(shared)}
        for component in ("kafka", "ferretdb"):
            subprocess.run(
                ["bash", str(self.root / "scripts" / "infra" / f"{component}.sh"), "install"],
                env=env,
                capture_output=True,
                timeout=900,
                check=True,
            )
        (self.dir / "kafka").mkdir(parents=True, exist_ok=True)
        (self.dir / "bin").mkdir(parents=True, exist_ok=True)
        (self.dir / "kafka" / "libs").symlink_to(shared / "kafka" / "libs")
        (self.dir / "bin" / "ferretdb").symlink_to(shared / "bin" / "ferretdb")

    def _mount_spool(self) -> None:
        """The spool on a tmpfs of its own size, so the disk-full fault can fill it without
        filling the machine's disk."""
        self.spool.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            [
                "mount",
                "-t",
                "tmpfs",
                "-o",
                f"size={self.options.spool_mb}m",
                "tmpfs",
                str(self.spool),
            ],
            capture_output=True,
            check=False,
        )
        self.spool_mounted = mounted.returncode == 0

    def _unmount_spool(self, *, force: bool = False) -> None:
        if self.spool_mounted or (force and os.path.ismount(self.spool)):
            subprocess.run(["umount", "-l", str(self.spool)], capture_output=True, check=False)
            self.spool_mounted = False
