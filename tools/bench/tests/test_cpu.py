"""The CPU split: every process below a root counts for it, one outside counts for no one."""

import subprocess
import sys
import time
from pathlib import Path

from switchboard.bench.cpu import server_roots, snapshot, spent

BURN = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass\n"
# a parent that starts a burning child and waits: the CPU is the grandchild's, not the root's
PARENT = f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', {BURN!r}])\n"


def test_a_descendants_cpu_counts_for_its_root() -> None:
    root = subprocess.Popen([sys.executable, "-c", PARENT + "import time; time.sleep(30)"])
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        before = snapshot({"root": [root.pid], "bystander": [bystander.pid]})
        deadline = time.monotonic() + 60
        # the burning child is alive until it has used its 0.6 s; read while it is
        seen = 0.0
        while time.monotonic() < deadline and seen < 0.3:
            seen = spent(before, snapshot({"root": [root.pid], "bystander": [bystander.pid]}))[
                "root"
            ]
            time.sleep(0.05)
        after = spent(before, snapshot({"root": [root.pid], "bystander": [bystander.pid]}))
        assert seen >= 0.3
        assert after["bystander"] < 0.2
    finally:
        root.kill()
        bystander.kill()
        root.wait()
        bystander.wait()


def test_spent_never_goes_negative_for_a_restarted_part() -> None:
    assert spent({"ingress": 50.0, "gone": 3.0}, {"ingress": 2.0}) == {"ingress": 0.0}
    assert spent({"ingress": 1.0}, {"ingress": 3.5, "history": 1.0}) == {
        "ingress": 2.5,
        "history": 1.0,
    }


def test_server_roots_reads_running_servers_pidfiles(tmp_path: Path) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "kafka" / "node-1").mkdir(parents=True)
        (tmp_path / "kafka" / "node-1" / "kafka.pid").write_text(f"{alive.pid}\n")
        (tmp_path / "pg" / "data").mkdir(parents=True)
        (tmp_path / "pg" / "data" / "postmaster.pid").write_text(f"{alive.pid}\n/data\n5432\n")
        (tmp_path / "redis.pid").write_text("999999999\n")  # no such process: not listed
        (tmp_path / "ferretdb.pid").write_text("garbage\n")
        assert server_roots(tmp_path) == {"kafka": [alive.pid], "postgres": [alive.pid]}
    finally:
        alive.kill()
        alive.wait()
