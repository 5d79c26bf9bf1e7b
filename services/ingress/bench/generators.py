"""The two load generators of ``make bench-ingress``, each closed loop with a fixed number of
connections over the same pre-signed requests: vegeta (Go) and wrk (C, with a Lua script).
Bench only."""

import base64
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from routes import Request

HERE = Path(__file__).resolve().parent
LUA = HERE / "requests.lua"


@dataclass(frozen=True)
class Run:
    """One run of a generator against one server."""

    rate: float
    """Successful (2xx/3xx) answers per second."""
    requests: int
    ok: int
    """Answers with a 2xx/3xx status (vegeta: with the status the route answers)."""
    answers: str
    """What came back, for the error message when ``ok`` is short."""
    p50_ms: float
    p99_ms: float

    @property
    def ok_share(self) -> float:
        return self.ok / max(1, self.requests)


def vegeta_targets(requests: Sequence[Request], url: str, file: Path) -> Path:
    """The requests as vegeta's JSON targets, sent to ``url``."""
    with file.open("w") as f:
        for body, headers in requests:
            target = {
                "method": "POST",
                "url": url,
                "body": base64.b64encode(body).decode(),
                "header": {name: [value] for name, value in headers.items()},
            }
            f.write(json.dumps(target) + "\n")
    return file


def wrk_targets(requests: Sequence[Request], path: str, file: Path) -> Path:
    """The requests in the format requests.lua reads (the server is named on wrk's command)."""
    with file.open("wb") as f:
        for body, headers in requests:
            f.write(f"POST {path} {len(headers)} {len(body)}\n".encode())
            for name, value in headers.items():
                f.write(f"{name}: {value}\n".encode())
            f.write(body + b"\n")
    return file


def vegeta(
    binary: Path,
    targets: Path,
    *,
    seconds: int,
    connections: int,
    expected: int,
    rate: int = 0,
) -> Run:
    """``rate=0``: as fast as ``connections`` workers go; otherwise that many requests/s."""
    flags = (
        ["-rate=0", f"-max-workers={connections}", f"-workers={connections}"]
        if rate == 0
        else [f"-rate={rate}/s", f"-workers={connections}"]
    )
    attack = subprocess.run(
        [
            str(binary),
            "attack",
            "-format=json",
            f"-targets={targets}",
            f"-duration={seconds}s",
            "-timeout=10s",
            *flags,
        ],
        capture_output=True,
        check=True,
    )
    report = json.loads(
        subprocess.run(
            [str(binary), "report", "-type=json"],
            input=attack.stdout,
            capture_output=True,
            check=True,
        ).stdout
    )
    codes = {str(k): int(v) for k, v in report["status_codes"].items()}
    return Run(
        rate=float(report["throughput"]),
        requests=int(report["requests"]),
        ok=codes.get(str(expected), 0),
        answers=f"status codes {codes}, errors {report.get('errors') or []}"[:2000],
        p50_ms=report["latencies"]["50th"] / 1e6,
        p99_ms=report["latencies"]["99th"] / 1e6,
    )


def wrk(targets: Path, port: int, *, seconds: int, connections: int) -> Run:
    """One wrk thread (the box has 2 cores: one for the server, one for load and Kafka)."""
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}",
            "--",
            str(targets),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("{"))
    s = json.loads(line)
    failed = s["non_2xx_3xx"] + s["connect"] + s["read"] + s["write"] + s["timeout"]
    requests = int(s["requests"])
    ok = max(0, requests - failed)
    return Run(
        rate=ok / (s["duration_us"] / 1e6),
        requests=requests,
        ok=ok,
        answers=f"non-2xx/3xx {s['non_2xx_3xx']}, socket errors connect {s['connect']} "
        f"read {s['read']} write {s['write']} timeout {s['timeout']}",
        p50_ms=s["p50_us"] / 1e3,
        p99_ms=s["p99_us"] / 1e3,
    )
