"""``make bench-ferretdb``: the AI worker's two hot paths (unowned-channel messages, replies for
known businesses) on FerretDB's SQLite backend (what ``make up`` runs) and on its PostgreSQL
backend (a second FerretDB on the PostgreSQL ``make up`` already runs), in alternating rounds of
``ai_bench.py`` in one invocation; the SQLite figures are the baseline.

Writes ``bench/results/ferretdb.json``: which embedded MongoDB-wire backend the project runs by
default is chosen from these numbers (README, "FerretDB backend").
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pymongo import MongoClient

from switchboard.bench import report as benchreport
from switchboard.common.testing import free_port

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".local" / "bin" / "ferretdb"
DATABASE = "ferretdb_bench"
COMMAND = "make bench-ferretdb"


def pg_port() -> int:
    return int(os.environ.get("SWITCHBOARD_PG_PORT", "15432"))


def sqlite_url() -> str:
    port = os.environ.get("SWITCHBOARD_FERRETDB_PORT", "27018")
    return os.environ.get("SWITCHBOARD_MONGO__URL", f"mongodb://127.0.0.1:{port}/")


def recreate_database() -> str:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{pg_port()}/postgres") as conn:
        conn.autocommit = True
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return f"postgres://postgres@127.0.0.1:{pg_port()}/{DATABASE}"


def start_ferretdb_on_postgres(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN),
            "--listen-addr",
            f"127.0.0.1:{port}",
            "--handler",
            "postgresql",
            "--postgresql-url",
            recreate_database(),
            "--log-level",
            "warn",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"mongodb://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with MongoClient(url, serverSelectionTimeoutMS=1000) as client:
                client.admin.command("ping")
            return proc, url
        except Exception:  # noqa: BLE001 - not up yet
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                sys.exit(f"FerretDB on PostgreSQL did not start: {log.read_text()[-2000:]}")
            time.sleep(0.5)


def run_once(url: str, ferretdb_pid: int | None, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).with_name("ai_bench.py")),
                "--unowned",
                str(args.unowned),
                "--messages",
                str(args.messages),
                "--conversations",
                str(args.conversations),
                "--businesses",
                str(args.businesses),
                "--concurrency",
                str(args.concurrency),
                "--json-out",
                out.name,
                *(["--ferretdb-pid", str(ferretdb_pid)] if ferretdb_pid else []),
            ],
            env={**os.environ, "SWITCHBOARD_MONGO__URL": url},
            check=True,
        )
        figures: dict[str, Any] = json.loads(Path(out.name).read_text())
        return figures


def median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--unowned", type=int, default=6000)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--businesses", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if not BIN.exists():
        sys.exit(f"{BIN} missing: run `make infra-up` first")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ferretdb-"))
    pg_proc, pg_url = start_ferretdb_on_postgres(tmp / "ferretdb-pg.log")
    backends = {"sqlite": (sqlite_url(), None), "postgresql": (pg_url, pg_proc.pid)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in backends}
    try:
        for round_no in range(args.rounds):
            # alternate which backend goes first, so a busy moment of the box hits both alike
            order = list(backends) if round_no % 2 == 0 else list(reversed(backends))
            for name in order:
                url, pid = backends[name]
                print(f"round {round_no + 1}/{args.rounds}: {name}", flush=True)
                runs[name].append(run_once(url, pid, args))
    finally:
        pg_proc.terminate()
        pg_proc.wait(timeout=30)
    sqlite, pg = runs["sqlite"], runs["postgresql"]
    results = [
        benchreport.result(
            f"unowned-channel msg/s, FerretDB on PostgreSQL (baseline: on SQLite; "
            f"{args.unowned} messages)",
            median(pg, "unowned_rate"),
            "msg/s",
            baseline=median(sqlite, "unowned_rate"),
            command=COMMAND,
        ),
        benchreport.result(
            f"replies/s, FerretDB on PostgreSQL (baseline: on SQLite; {args.messages} messages, "
            f"{args.concurrency} in flight, model at 0 ms)",
            median(pg, "replies_rate"),
            "msg/s",
            baseline=median(sqlite, "replies_rate"),
            command=COMMAND,
        ),
        benchreport.result(
            "per-reply overhead p95, FerretDB on PostgreSQL (baseline: on SQLite)",
            median(pg, "overhead_p95_ms"),
            "ms",
            baseline=median(sqlite, "overhead_p95_ms"),
            command=COMMAND,
        ),
    ]
    context = {
        "runs": f"{args.rounds} alternating rounds of services/ai/bench/ai_bench.py per backend, "
        "medians kept; one AI worker process, local Kafka and Redis; the PostgreSQL backend "
        "is a second FerretDB (same binary) on make up's PostgreSQL",
        "box load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        **{
            f"{name} round {i + 1}": {
                k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()
            }
            for name, rs in runs.items()
            for i, r in enumerate(rs)
        },
    }
    path = benchreport.write(ROOT, "ferretdb", results, context)
    for r in results:
        print(f"{r.metric:100} {r.value:>10} {r.unit:6} baseline={r.baseline} ratio={r.ratio}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
