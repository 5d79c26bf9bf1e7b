"""``make bench-ingress``: verified-and-published webhooks per second per ingress process, for
every provider route (Twilio voice status, inbound SMS, messaging status, WhatsApp, Vapi,
ElevenLabs), each with two load generators (vegeta and wrk), each against a bare Litestar
endpoint that only reads the body, measured in the same run with the same server settings and
the same requests. Then each route is driven with vegeta at half its max rate to read p50/p99
latency; aiokafka alone publishing (the Kafka ceiling) is measured once for context.

Every route's requests are distinct and signed as its provider signs them; the accounts and
channels that verify them are on a control.config topic of the bench's own. A run in which any
route answered anything but its 2xx (a 403 from a missing account, 429, 503) exits non-zero and
writes nothing: a rate of refusals is not a speed.

Environment: BENCH_SECONDS (per run, default 8), BENCH_ROUNDS (alternating rounds, default 3),
BENCH_CONCURRENCY (connections, default 64), BENCH_REQUESTS (distinct requests per route,
default 20,000), BENCH_ROUTES (comma-separated keys of routes.py, default all).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import generators
import httpx
from generators import Run
from routes import ROUTES, Route, entities

from switchboard.bench import report as benchreport
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import seeded_config_env

ROOT = Path(__file__).resolve().parents[3]
VEGETA = ROOT / ".local" / "bin" / "vegeta"
PY = sys.executable
CONNECTIONS = int(os.environ.get("BENCH_CONCURRENCY", "64"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "20000"))
WARMUP_SECONDS = min(2, SECONDS)
SELECTED = [k for k in os.environ.get("BENCH_ROUTES", "").split(",") if k]
BOOTSTRAP = os.environ.get("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")
COMMAND = "make bench-ingress"
GENERATORS = ("vegeta", "wrk")
MIN_OK = 0.99


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(args: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [PY, "-m", *args], env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        try:  # the bare app has no /ready: any answer means it is up
            httpx.post(f"http://127.0.0.1:{port}/webhooks/ready", content=b"", timeout=1)
            if "bare_app" in " ".join(args):
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"server {args} did not start (its output: {log})")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def kafka_ceiling() -> float:
    out = subprocess.run(
        [
            PY,
            str(Path(__file__).with_name("kafka_ceiling.py")),
            BOOTSTRAP,
            str(CONNECTIONS),
            str(SECONDS),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["events_per_s"])


def control_plane_env() -> dict[str, str]:
    """The accounts and channels of every route, on a config topic of their own as the control
    plane would publish them: the ingress verifies and attributes every request from these."""
    return seeded_config_env(KafkaSettings(bootstrap_servers=BOOTSTRAP), entities())


class Refused(Exception):
    """A server answered a share of a run with something else than the route's 2xx."""


@dataclass(frozen=True)
class Target:
    """One route on one server: where to send, what it answers, the generators' files."""

    side: str
    port: int
    status: int
    files: dict[str, Path]


def run(generator: str, target: Target, *, seconds: int, rate: int = 0) -> Run:
    if generator == "vegeta":
        result = generators.vegeta(
            VEGETA,
            target.files["vegeta"],
            seconds=seconds,
            connections=CONNECTIONS,
            expected=target.status,
            rate=rate,
        )
    else:
        result = generators.wrk(
            target.files["wrk"], target.port, seconds=seconds, connections=CONNECTIONS
        )
    if result.ok_share < MIN_OK:
        wanted = target.status if generator == "vegeta" else "a 2xx"  # wrk counts only those
        raise Refused(
            f"{target.side} answered {result.ok_share:.2%} of {result.requests} requests "
            f"with {wanted} ({generator}): {result.answers}"
        )
    return result


def median_round(rounds: list[tuple[Run, Run]]) -> tuple[Run, Run]:
    """The (bare, ingress) round of the median ratio."""
    ordered = sorted(rounds, key=lambda r: r[1].rate / max(r[0].rate, 1e-9))
    return ordered[len(ordered) // 2]


@dataclass(frozen=True)
class RouteResult:
    route: Route
    body_bytes: int
    rounds: dict[str, list[tuple[Run, Run]]]
    """Per generator, (bare, ingress) of each round."""
    half: Run
    half_rate: int

    def median_round(self, generator: str) -> tuple[Run, Run]:
        return median_round(self.rounds[generator])

    def ratios(self, generator: str) -> str:
        return ", ".join(f"{i.rate / max(b.rate, 1e-9):.3f}" for b, i in self.rounds[generator])


def targets_of(
    route: Route, tmp: Path, bare_port: int, ingress_port: int
) -> tuple[Target, Target, int]:
    """The route's requests (signed for the ingress's public URL; the bare endpoint ignores
    signatures, so it gets the same bytes) in both generators' formats, for both servers."""
    requests = [route.build(i, f"http://127.0.0.1:{ingress_port}") for i in range(REQUESTS)]
    wrk_file = generators.wrk_targets(requests, route.path, tmp / f"{route.key}.wrk")
    out: list[Target] = []
    for side, port in (("bare", bare_port), ("ingress", ingress_port)):
        vegeta_file = generators.vegeta_targets(
            requests, f"http://127.0.0.1:{port}{route.path}", tmp / f"{route.key}.{side}.jsonl"
        )
        # the bare endpoint answers as the ingress does on that path: held to the same status
        out.append(Target(side, port, route.status, {"vegeta": vegeta_file, "wrk": wrk_file}))
    return out[0], out[1], int(median(len(body) for body, _ in requests))


def preflight(route: Route, ingress_port: int) -> None:
    """One request before any load: a route the config does not verify fails in a second,
    with the ingress's reason, not after minutes of measuring refusals."""
    body, headers = route.build(0, f"http://127.0.0.1:{ingress_port}")
    answer = httpx.post(
        f"http://127.0.0.1:{ingress_port}{route.path}", content=body, headers=headers, timeout=10
    )
    if answer.status_code != route.status:
        raise Refused(
            f"{route.name}: the ingress answered {answer.status_code} "
            f"(expected {route.status}): {answer.text[:500]}"
        )


def measure(route: Route, tmp: Path, bare_port: int, ingress_port: int) -> RouteResult:
    bare, ingress, body_bytes = targets_of(route, tmp, bare_port, ingress_port)
    for generator in GENERATORS:  # warm both servers up on this route's requests
        run(generator, bare, seconds=WARMUP_SECONDS)
        run(generator, ingress, seconds=WARMUP_SECONDS)
    # Both servers stay up (an idle one costs nothing) and their runs alternate, so a busy
    # moment of the shared box hits both sides of a round alike; the median round is kept.
    rounds: dict[str, list[tuple[Run, Run]]] = {g: [] for g in GENERATORS}
    for _ in range(ROUNDS):
        for generator in GENERATORS:
            rounds[generator].append(
                (run(generator, bare, seconds=SECONDS), run(generator, ingress, seconds=SECONDS))
            )
    half_rate = max(1, int(median_round(rounds["vegeta"])[1].rate / 2))
    half = run("vegeta", ingress, seconds=SECONDS, rate=half_rate)
    for target in (bare, ingress):  # tens of MB a route
        for file in target.files.values():
            file.unlink(missing_ok=True)
    return RouteResult(route, body_bytes, rounds, half, half_rate)


def results_of(measured: list[RouteResult], kafka_rate: float) -> list[benchreport.Result]:
    out = []
    for m in measured:
        for generator in GENERATORS:
            bare, ingress = m.median_round(generator)
            out.append(
                benchreport.result(
                    f"{m.route.name}: webhooks/s, {generator}",
                    ingress.rate,
                    "req/s",
                    baseline=bare.rate,
                    command=COMMAND,
                    target="ratio ≥ 0.6",
                    notes=f"{m.route.path}, {m.body_bytes} B body; baseline = the bare "
                    f"endpoint, same requests; median of {ROUNDS} alternating rounds "
                    f"(ratios {m.ratios(generator)})",
                )
            )
        out.append(
            benchreport.result(
                f"{m.route.name}: p99 latency at half max rate",
                m.half.p99_ms,
                "ms",
                baseline=None,
                command=COMMAND,
                target="< 10 ms",
                notes=f"vegeta at {m.half_rate}/s for {SECONDS} s; p50 {m.half.p50_ms:.2f} ms",
            )
        )
    out.append(
        benchreport.result(
            "Kafka ceiling: aiokafka alone publishing (acks=all)",
            kafka_rate,
            "events/s",
            baseline=None,
            command=COMMAND,
            notes=f"{CONNECTIONS} concurrent send_and_wait, the ingress's producer settings",
        )
    )
    return out


def main() -> None:
    if not VEGETA.exists():
        sys.exit("vegeta missing: run `make bench-ingress` (it installs it into .local/bin)")
    if shutil.which("wrk") is None:
        sys.exit("wrk missing: run `make bench-ingress` (it installs the Debian package)")
    routes = [r for r in ROUTES if not SELECTED or r.key in SELECTED]
    if not routes:
        sys.exit(f"BENCH_ROUTES names none of {[r.key for r in ROUTES]}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingress-"))
    server_env = {
        "SWITCHBOARD_LOG__LEVEL": "WARNING",
        "SWITCHBOARD_HTTP__RATE_LIMIT_PER_SECOND": "0",
    }
    bare_port, ingress_port = free_port(), free_port()
    bare = serve(
        [
            "uvicorn",
            "bare_app:app",
            "--port",
            str(bare_port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--app-dir",
            str(Path(__file__).parent),
        ],
        server_env,
        bare_port,
        tmp / "bare.log",
    )
    measured: list[RouteResult] = []
    try:
        ingress = serve(
            ["switchboard.ingress", "serve"],
            {
                **server_env,
                "SWITCHBOARD_HTTP__PORT": str(ingress_port),
                "SWITCHBOARD_HTTP__WORKERS": "1",
                "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
                **control_plane_env(),
                "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp / "spool"),
                # Vapi and ElevenLabs signatures carry a time: requests signed before a
                # route's runs stay valid through them, however long BENCH_SECONDS makes them.
                "SWITCHBOARD_VAPI__HMAC_TOLERANCE_S": "86400",
                "SWITCHBOARD_ELEVENLABS__TOLERANCE_S": "86400",
            },
            ingress_port,
            tmp / "ingress.log",
        )
        try:
            for route in routes:
                preflight(route, ingress_port)
            for route in routes:
                print(f"{route.name} ...", flush=True)
                measured.append(measure(route, tmp, bare_port, ingress_port))
        except Refused as exc:
            sys.exit(f"not a speed, nothing written: {exc} (ingress output: {tmp}/ingress.log)")
        finally:
            stop(ingress)
    finally:
        stop(bare)
        for m in measured:
            print(f"  {m.route.key}: " + ", ".join(f"{g} {m.ratios(g)}" for g in GENERATORS))
    kafka_rate = kafka_ceiling()

    results = results_of(measured, kafka_rate)
    context = {
        "box load at the end (1/5/15 min)": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "ingress": "uvicorn (uvloop, httptools), 1 worker process, rate limit off, real Kafka "
        "acks=all idempotent; every request verified with its provider's signature (Twilio "
        "HMAC-SHA1 of URL+form, Meta X-Hub-Signature-256, Vapi HMAC mode, ElevenLabs "
        "t=,v0=) against accounts followed from control.config, attributed to its channel's "
        "tenant and published; tracing without an exporter",
        "bare endpoint": "Litestar on uvicorn (same settings), a POST handler on each webhook "
        "path that reads the body and gives the ingress's answer (204, empty TwiML, {}), "
        "nothing verified or published",
        "load": f"vegeta (Go, closed loop, {CONNECTIONS} workers) and wrk (1 thread, "
        f"{CONNECTIONS} connections, Lua script cycling the requests); {SECONDS} s per run, "
        f"{ROUNDS} rounds per route, each round bare then ingress for each generator (median "
        f"round kept per generator); {REQUESTS:,} distinct pre-signed requests per route, the "
        "same bytes to both servers; loopback; the same box runs Kafka and the generators",
        "answers": f"every run of every route: at least {MIN_OK:.0%} of the answers were the "
        "route's own status (vegeta) or 2xx (wrk), else the run fails and nothing is written",
        "kafka": "local single-node KRaft broker from scripts/infra (fsync by the OS, not per "
        "message)",
    }
    out = benchreport.write(ROOT, "ingress", results, context)
    shutil.rmtree(tmp)  # kept when the run fails: the servers' output is there
    for r in results:
        print(f"{r.metric:62} {r.value:>10} {r.unit:8} baseline={r.baseline} ratio={r.ratio}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
