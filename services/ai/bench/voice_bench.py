"""``make bench-voice``: live Vapi answers at N concurrent calls — ``assistant-request`` and
``tool-calls`` (``search_knowledge``) p50/p99 through the real ingress and AI voice API, against
a bare endpoint measured in the same run with the same load.

Every piece is a real process on this box: the provider simulator (OpenAI embeddings at 0 ms:
the model is excluded, the knowledge search is not), the AI worker and admin API (businesses
with a voice profile and an embedded document, created through the API), the AI voice API
(MongoDB/FerretDB, Redis) and one ingress process (verification, the internal call, the
exchange published on Kafka), both following a control.config topic of the run's own. The bare
endpoint (``bare_voice_app.py``) only reads and parses the message and answers a fixed body.

Load: vegeta, pre-signed distinct requests (``X-Vapi-Secret``), ``--calls`` workers at most
(each a call on the line) and ``--rate`` requests per second per request type, so every
request finds a free worker as long as the server keeps up: a p99 of answers, not of a queue.
Rounds alternate bare / ingress per request type; the median round (by p99 ratio) is kept.
Checks that every ingress answer was the business's (not a fallback) and writes
``bench/results/voice.json`` and the docs/benchmarks.md rows (``--root`` elsewhere for a smoke
run).
"""

import argparse
import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from pymongo import MongoClient

from switchboard.bench import report as benchreport
from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.config import Channel, ModelPrice, VapiAccount
from switchboard.common.settings import CommonSettings
from switchboard.common.testing import (
    ServiceProcess,
    free_port,
    fresh_group,
    seeded_config_env,
    unique,
)
from switchboard.common.topics import MESSAGE_INBOUND

ROOT = Path(__file__).resolve().parents[3]
VEGETA = ROOT / ".local" / "bin" / "vegeta"
COMMAND = "make bench-voice"
TENANT, VAPI_ORG, SECRET = "bench-voice", "bench-vapi-org", "bench-vapi-secret-0001"
INTERNAL = "bench-voice-internal-secret-0001"
SIGNER = LocalSigner()
AI_KEY = json.dumps({"bench": base64.b64encode(os.urandom(32)).decode()})
QUESTIONS = (
    "Are you open on Sunday?",
    "Is there parking?",
    "Do you have a vegetarian menu?",
    "Until what time can I book a table?",
)
DOCUMENT = (
    "# Opening hours\n\n{name} is open Tuesday to Sunday from 12:00 to 22:00 and closed on "
    "Mondays. The last table booking is at 21:00.\n\n# Parking\n\nFree parking behind the "
    "restaurant.\n\n# Menu\n\nPasta, risotto and a vegetarian lunch menu every day."
)
REQUESTS = {"assistant-request": "< 150 ms", "tool-calls": "< 300 ms"}
"""The request types measured and the issue's p99 targets."""


def phone_id(n: int) -> str:
    return f"pn-bench-{n:04d}"


def vapi_body(kind: str, business: int, i: int) -> bytes:
    call_id = str(uuid.uuid4())
    message: dict[str, Any] = {
        "type": kind,
        "timestamp": int(time.time() * 1000),
        "call": {"id": call_id, "phoneNumberId": phone_id(business)},
        "phoneNumber": {"id": phone_id(business), "number": f"+1555{business:07d}"},
        "customer": {"number": f"+1666{i % 10_000:07d}"},
    }
    if kind == "tool-calls":
        message["toolCallList"] = [
            {
                "id": f"call_{i}",
                "name": "search_knowledge",
                "parameters": {"query": QUESTIONS[i % len(QUESTIONS)]},
            }
        ]
    return json.dumps({"message": message}, separators=(",", ":")).encode()


def write_targets(path: Path, port: int, kind: str, n: int, businesses: int) -> None:
    url = f"http://127.0.0.1:{port}/webhooks/vapi"
    headers = {"Content-Type": ["application/json"], "X-Vapi-Secret": [SECRET]}
    with path.open("w") as f:
        for i in range(n):
            body = base64.b64encode(vapi_body(kind, i % businesses, i)).decode()
            target = {"method": "POST", "url": url, "body": body, "header": headers}
            f.write(json.dumps(target) + "\n")


def attack(targets: Path, *, rate: int, calls: int, seconds: float) -> dict[str, Any]:
    attack_cmd = [
        str(VEGETA),
        "attack",
        "-format=json",
        f"-targets={targets}",
        f"-duration={seconds}s",
        "-timeout=10s",
        f"-rate={rate}/s",
        f"-workers={min(calls, 10)}",
        f"-max-workers={calls}",
    ]
    out = subprocess.run(attack_cmd, capture_output=True, check=True).stdout
    report = subprocess.run(
        [str(VEGETA), "report", "-type=json"], input=out, capture_output=True, check=True
    )
    return dict(json.loads(report.stdout))


def bare_server(port: int, logdir: Path) -> subprocess.Popen[bytes]:
    log = (logdir / "bare.log").open("wb")
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_voice_app:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--app-dir",
        str(Path(__file__).parent),
    ]
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            body = vapi_body("assistant-request", 0, 0)
            url = f"http://127.0.0.1:{port}/webhooks/vapi"
            if httpx.post(url, content=body, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the bare endpoint did not start")


async def create_businesses(ai_api: str, n: int, run: str) -> None:
    headers = SIGNER.bearer(TENANT, Audience.AI)
    async with httpx.AsyncClient(base_url=ai_api, headers=headers, timeout=60) as api:
        ids = []
        for b in range(n):
            name = f"Bench Bistro {b} {run}"
            created = await api.post(
                "/v1/businesses",
                json={
                    "name": name,
                    "voice": {
                        "channels": [f"vapi-phone/{phone_id(b)}"],
                        "time_zone": "Europe/Paris",
                        "hours": {"sun": ["12:00-22:00"], "tue": ["12:00-22:00"]},
                        "vapi_assistant_id": f"asst-bench-{b}",
                        "tools": [{"name": "search_knowledge", "kind": "search_knowledge"}],
                    },
                },
            )
            created.raise_for_status()
            business = created.json()["id"]
            doc = {"title": "About us", "content": DOCUMENT.format(name=name)}
            put = await api.put(f"/v1/businesses/{business}/documents/about", json=doc)
            put.raise_for_status()
            ids.append(business)
        deadline = time.monotonic() + 300
        for business in ids:
            while True:
                docs = (await api.get(f"/v1/businesses/{business}/documents")).json()
                if docs and all(d["status"] == "ready" for d in docs):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("documents not embedded within 300 s")
                await asyncio.sleep(0.5)


ANSWERS = re.compile(r"^switchboard_ingress_voice_answers_total\{([^}]*)\} ([0-9.e+]+)$", re.M)


def answers_by_outcome(ingress: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for labels, value in ANSWERS.findall(httpx.get(ingress + "/metrics", timeout=10).text):
        outcome = re.search(r'outcome="([^"]+)"', labels)
        if outcome:
            counts[outcome.group(1)] = counts.get(outcome.group(1), 0.0) + float(value)
    return counts


def ms(report: dict[str, Any], quantile: str) -> float:
    return float(report["latencies"][quantile]) / 1e6


Rounds = dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]
"""Per request type: (bare, ingress) vegeta reports of each round."""


def measure(
    args: argparse.Namespace, ingress: ServiceProcess, bare_port: int
) -> tuple[Rounds, dict[str, float], str]:
    """The rounds, the ingress's answers by outcome during them, and the box's load."""
    logdir = ingress.log_path.parent
    n = max(100, int(args.rate * args.seconds * 1.2))
    files: dict[tuple[str, str], Path] = {}
    for kind in REQUESTS:
        for side, port in (("bare", bare_port), ("ingress", ingress.port)):
            files[side, kind] = logdir / f"{side}-{kind}.jsonl"
            write_targets(files[side, kind], port, kind, n, args.businesses)

    # Warm up until the voice API answers from the businesses (it follows the control
    # plane and caches lookups and query embeddings), then start from a clean count.
    deadline = time.monotonic() + 120
    while answers_by_outcome(ingress.url).get("answered", 0) < 2 * len(REQUESTS):
        for kind in REQUESTS:
            attack(files["ingress", kind], rate=10, calls=args.calls, seconds=1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the ingress never answered from a business:\n{ingress.log_tail()}")
    for kind in REQUESTS:
        attack(files["bare", kind], rate=args.rate, calls=args.calls, seconds=min(3, args.seconds))
        attack(
            files["ingress", kind],
            rate=args.rate,
            calls=args.calls,
            seconds=min(3, args.seconds),
        )
    before = answers_by_outcome(ingress.url)
    rounds: Rounds = {k: [] for k in REQUESTS}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for kind in REQUESTS:
            b = attack(files["bare", kind], rate=args.rate, calls=args.calls, seconds=args.seconds)
            i = attack(
                files["ingress", kind], rate=args.rate, calls=args.calls, seconds=args.seconds
            )
            rounds[kind].append((b, i))
    load_after = os.getloadavg()
    after = answers_by_outcome(ingress.url)
    outcomes = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    return rounds, outcomes, f"{load_before} → {load_after}"


def summarize(
    args: argparse.Namespace, rounds: Rounds, outcomes: dict[str, float], load: str
) -> tuple[list[benchreport.Result], dict[str, Any]]:
    results: list[benchreport.Result] = []
    context: dict[str, Any] = {
        "load": f"vegeta, {args.calls} concurrent calls at most, {args.rate} requests/s per "
        f"request type, {args.seconds} s per run, {args.rounds} rounds alternating bare / "
        "ingress (median round by p99 ratio kept), distinct pre-signed requests, loopback",
        "stack": "one ingress process (uvicorn, uvloop) → AI voice API (one process; FerretDB "
        f"SQLite and Redis from scripts/infra), {args.businesses} businesses with an embedded "
        "document each; OpenAI embeddings from the simulator at 0 ms (questions cached after "
        "the first); exchanges published on the local Kafka",
        "ingress outcomes during the measured rounds": {k: int(v) for k, v in outcomes.items()},
        "box load before / after (1/5/15 min)": load,
    }
    for kind, target in REQUESTS.items():
        runs = sorted(rounds[kind], key=lambda r: ms(r[1], "99th") / max(ms(r[0], "99th"), 1e-6))
        b, i = runs[len(runs) // 2]
        ok = i["status_codes"].get("200", 0) / max(1, i["requests"])
        context[f"{kind}: ingress answers 200"] = f"{ok:.4f}"
        context[f"{kind}: p99 per round (ingress / bare ms)"] = [
            f"{ms(x, '99th'):.1f} / {ms(y, '99th'):.1f}" for y, x in runs
        ]
        results += [
            benchreport.result(
                f"{kind} p99 through ingress + AI voice API at {args.calls} concurrent calls "
                "(vs bare endpoint)",
                ms(i, "99th"),
                "ms",
                baseline=ms(b, "99th"),
                command=COMMAND,
                target=target,
            ),
            benchreport.result(
                f"{kind} p50 through ingress + AI voice API at {args.calls} concurrent calls "
                "(vs bare endpoint)",
                ms(i, "50th"),
                "ms",
                baseline=ms(b, "50th"),
                command=COMMAND,
            ),
        ]
    fallbacks = sum(v for k, v in outcomes.items() if k != "answered")
    results.append(
        benchreport.result(
            "answers not from the business (fallback or unowned) during the measured rounds",
            fallbacks,
            "answers",
            baseline=None,
            command=COMMAND,
            target="0",
        )
    )
    return results, context


def run(args: argparse.Namespace) -> tuple[list[benchreport.Result], dict[str, Any]]:
    common = CommonSettings()
    kafka = common.kafka
    run_id = uuid.uuid4().hex[:6]
    logdir = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    database = unique("bench_voice")
    config = seeded_config_env(
        kafka,
        [
            VapiAccount(id=VAPI_ORG, tenants=(TENANT,), webhook_secrets=(SecretStr(SECRET),)),
            *(
                Channel(kind="vapi-phone", id=phone_id(b), tenant=TENANT, account_id=VAPI_ORG)
                for b in range(args.businesses)
            ),
            # The businesses' (default) model, offered by the operator.
            ModelPrice(
                id="gpt-4o-mini",
                input_per_1k_usd=Decimal("0.00015"),
                output_per_1k_usd=Decimal("0.0006"),
            ),
        ],
    )
    sim_port, worker_port, api_port, voice_port, ingress_port, bare_port = (
        free_port() for _ in range(6)
    )
    quiet = {"SWITCHBOARD_LOG__LEVEL": "WARNING"}
    ai = {
        **quiet,
        **config,
        "SWITCHBOARD_MONGO__DATABASE": database,
        **SIGNER.env(),
        "SWITCHBOARD_CRYPTO__KEYS": AI_KEY,
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "bench",
        "SWITCHBOARD_OPENAI__BASE_URL": f"http://127.0.0.1:{sim_port}/v1",
        "SWITCHBOARD_OPENAI__API_KEY": "sk-sim",
        "SWITCHBOARD_KNOWLEDGE__POLL_INTERVAL_S": "0.5",
        "SWITCHBOARD_REDIS_PREFIX": unique("bench-voice"),
        "SWITCHBOARD_VOICE__INTERNAL_SECRETS": json.dumps([INTERNAL]),
        "SWITCHBOARD_CONSUMER__GROUP_ID": asyncio.run(
            fresh_group(kafka, "bench-voice", (MESSAGE_INBOUND,))
        ),
    }
    processes: list[ServiceProcess] = []

    def start(name: str, argv: list[str], env: dict[str, str], port: int) -> ServiceProcess:
        process = ServiceProcess(name, argv, env, port, logdir)
        processes.append(process)
        return process

    bare: subprocess.Popen[bytes] | None = None
    try:
        sim = start(
            "provider-sim",
            ["switchboard.providersim", "serve"],
            {
                **quiet,
                "SWITCHBOARD_SIM__PORT": str(sim_port),
                "SWITCHBOARD_SIM__LOG_WEBHOOKS": "false",
            },
            sim_port,
        )
        sim.wait_ready("/health")
        start(
            "ai-worker",
            ["switchboard.ai", "worker"],
            {**ai, "SWITCHBOARD_HTTP__WORKER_PORT": str(worker_port)},
            worker_port,
        ).wait_ready()
        api = start(
            "ai-api",
            ["switchboard.ai", "api"],
            {**ai, "SWITCHBOARD_HTTP__API_PORT": str(api_port)},
            api_port,
        )
        api.wait_ready()
        start(
            "ai-voice",
            ["switchboard.ai", "voice"],
            {**ai, "SWITCHBOARD_HTTP__VOICE_PORT": str(voice_port)},
            voice_port,
        ).wait_ready()
        ingress = start(
            "ingress",
            ["switchboard.ingress", "serve"],
            {
                **quiet,
                **config,
                "SWITCHBOARD_HTTP__PORT": str(ingress_port),
                "SWITCHBOARD_HTTP__WORKERS": "1",
                "SWITCHBOARD_HTTP__RATE_LIMIT_PER_SECOND": "0",
                "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
                "SWITCHBOARD_SPOOL__DIRECTORY": str(logdir / "spool"),
                "SWITCHBOARD_VOICE__AI_URL": f"http://127.0.0.1:{voice_port}",
                "SWITCHBOARD_VOICE__INTERNAL_SECRET": INTERNAL,
            },
            ingress_port,
        )
        ingress.wait_ready()
        bare = bare_server(bare_port, logdir)
        asyncio.run(create_businesses(api.url, args.businesses, run_id))

        measured = measure(args, ingress, bare_port)
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=30)
        for process in reversed(processes):
            process.stop()
        with MongoClient(common.mongo.url.get_secret_value()) as client:
            client.drop_database(database)

    return summarize(args, *measured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", type=int, default=50, help="concurrent calls (vegeta workers at most)"
    )
    parser.add_argument("--rate", type=int, default=50, help="requests/s per request type")
    parser.add_argument("--seconds", type=float, default=20.0, help="per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--businesses", type=int, default=20)
    parser.add_argument("--root", default=str(ROOT), help="where bench/results and docs/ go")
    args = parser.parse_args()
    if not VEGETA.exists():
        sys.exit("vegeta missing: run `make bench-voice` (it installs it into .local/bin)")
    results, context = run(args)
    out = benchreport.write(Path(args.root), "voice", results, context)
    for r in results:
        print(f"{r.metric:100} {r.value:>9} {r.unit:7} baseline={r.baseline} ratio={r.ratio}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
