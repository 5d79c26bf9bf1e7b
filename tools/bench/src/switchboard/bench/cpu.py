"""CPU seconds per part of the stack, read from ``/proc``: each service or server counted with
every process below it (PostgreSQL's backends, a JVM's threads are one process already), so
the split says where the box's cores went — the servers included, not only our services."""

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

SERVER_PIDFILES = {
    "kafka": "kafka.pid",
    "postgres": "postmaster.pid",
    "redis": "redis.pid",
    "ferretdb": "ferretdb.pid",
}
"""The servers scripts/infra starts and the pid file each writes (first line: the pid)."""


def read_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` (first word) if that process runs."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def server_roots(stack_dir: Path) -> dict[str, list[int]]:
    """The running servers under ``stack_dir`` (a cluster's brokers together as ``kafka``)."""
    roots: dict[str, list[int]] = {}
    for name, filename in SERVER_PIDFILES.items():
        for pidfile in sorted(stack_dir.rglob(filename)):
            if (pid := read_pid(pidfile)) is not None:
                roots.setdefault(name, []).append(pid)
    return roots


def _processes() -> dict[int, tuple[int, float]]:
    """Every live process: pid → (parent pid, its own user+system CPU seconds)."""
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # ended while we read
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid ... utime(12) stime(13)
        out[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def snapshot(roots: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """CPU seconds used so far by each named tree of processes (the processes alive now: take
    two snapshots around a window and subtract, see :func:`spent`)."""
    procs = _processes()
    owner: dict[int, str | None] = {pid: name for name, pids in roots.items() for pid in pids}

    def owner_of(pid: int) -> str | None:
        chain = []
        while pid not in owner:
            if pid not in procs or pid <= 1:
                owner[pid] = None
                break
            chain.append(pid)
            pid = procs[pid][0]
        for p in chain:
            owner[p] = owner[pid]
        return owner[pid]

    totals = dict.fromkeys(roots, 0.0)
    for pid, (_, cpu) in procs.items():
        name = owner_of(pid)
        if name is not None:
            totals[name] += cpu
    return totals


def spent(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each part used between two snapshots (a part restarted in between counts
    from zero again, never negative)."""
    return {name: round(max(0.0, after[name] - before.get(name, 0.0)), 1) for name in after}


class CpuMeter:
    """Cores each named tree of processes used between :meth:`start` and :meth:`stop`."""

    def __init__(self, roots: Mapping[str, Iterable[int]]) -> None:
        self._roots = {name: list(pids) for name, pids in roots.items()}
        self._start: dict[str, float] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._start, self._t0 = snapshot(self._roots), time.monotonic()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self._t0, 1e-9)
        used = spent(self._start, snapshot(self._roots))
        return {name: round(seconds / wall, 2) for name, seconds in used.items()}
