"""``make bench-control``: what the control plane's configuration costs a service, in one run.

1. Webhooks/s of one ingress process whose control.config holds 1,000 tenants (each a Twilio
   account and a number, requests spread over all of them) against one whose config holds a
   single tenant (the baseline): vegeta, closed loop, alternating rounds, median kept.
2. How long a change takes to be in force: a Twilio auth token rotated on the config topic
   (as the control plane's relay publishes it) until the running ingress accepts a callback
   signed with the new token, measured by the callbacks themselves; repeated, p50/p95/max.
3. The same for the dialer's and the AI service's APIs: a number bound to a tenant on the
   topic until the running dialer API creates a campaign calling from it and the running AI
   admin API creates a business answering on it (both refuse an unbound number with 422).

Writes ``bench/results/control.json`` and the rows of ``docs/benchmarks.md``.
"""

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "services" / "ingress" / "bench"))

from generators import vegeta, vegeta_targets  # noqa: E402
from ingress_bench import VEGETA, free_port, serve, stop  # noqa: E402

from switchboard.bench import report as benchreport  # noqa: E402
from switchboard.common.auth import Audience, LocalSigner  # noqa: E402
from switchboard.common.config import (  # noqa: E402
    Channel,
    ConfigEntity,
    ConfigSettings,
    ModelPrice,
    Tenant,
    TwilioAccount,
)
from switchboard.common.crypto import new_key  # noqa: E402
from switchboard.common.migrations import drop_database  # noqa: E402
from switchboard.common.settings import KafkaSettings, PostgresSettings  # noqa: E402
from switchboard.common.testing import (  # noqa: E402
    ConfigPublisher,
    ServiceProcess,
    config_env,
    twilio_signature,
    unique,
)
from switchboard.dialer.migrate import migrate as migrate_dialer  # noqa: E402

BOOTSTRAP = os.environ.get("SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")
KAFKA = KafkaSettings(bootstrap_servers=BOOTSTRAP)
PATH = "/webhooks/twilio/voice/status"
COMMAND = "make bench-control"


def sid(i: int) -> str:
    return f"AC{i:032x}"


def number(i: int) -> str:
    return f"+1555{i:07d}"


def token(i: int, generation: int = 0) -> str:
    return f"bench-token-{i:06d}-{generation:04d}"


SIGNER = LocalSigner()
AI_RING = json.dumps({"bench": base64.b64encode(os.urandom(32)).decode()})


def tenant_entities(count: int) -> list[ConfigEntity]:
    out: list[ConfigEntity] = [
        # The AI service's default model, offered by the operator.
        ModelPrice(
            id="gpt-4o-mini",
            input_per_1k_usd=Decimal("0.00015"),
            output_per_1k_usd=Decimal("0.0006"),
        )
    ]
    for i in range(count):
        out.append(Tenant(id=f"t{i}", name=f"Tenant {i}"))
        out.append(TwilioAccount(id=sid(i), tenants=(f"t{i}",), auth_tokens=(SecretStr(token(i)),)))
        out.append(Channel(kind="phone", id=number(i), tenant=f"t{i}", account_id=sid(i)))
    return out


def fresh_config() -> ConfigSettings:
    return ConfigSettings(
        topic=unique("control.config.bench"),
        keys={"bench-1": SecretStr(new_key())},
        current_key_id="bench-1",
    )


async def publish(settings: ConfigSettings, entities: list[ConfigEntity]) -> None:
    async with ConfigPublisher(KAFKA, settings) as publisher:
        await publisher.put(*entities)


def callback(port: int, i: int, tok: str) -> tuple[bytes, dict[str, str]]:
    """A signed final status callback of a call on tenant ``i``'s account and number."""
    url = f"http://127.0.0.1:{port}{PATH}"
    params = {
        "AccountSid": sid(i),
        "CallSid": f"CA{uuid.uuid4().hex}",
        "CallStatus": "completed",
        "CallDuration": "42",
        "SequenceNumber": "3",
        "From": number(i),
        "To": "+14155550199",
        "Direction": "outbound-api",
        "Timestamp": "Mon, 07 Dec 2026 03:00:00 +0000",
    }
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(url, params, tok),
    }


def start_ingress(
    env: dict[str, str], tmp: Path, name: str
) -> tuple[int, "subprocess.Popen[bytes]"]:
    port = free_port()
    proc = serve(
        ["switchboard.ingress", "serve"],
        {
            **env,
            "SWITCHBOARD_LOG__LEVEL": "WARNING",
            "SWITCHBOARD_HTTP__RATE_LIMIT_PER_SECOND": "0",
            "SWITCHBOARD_HTTP__PORT": str(port),
            "SWITCHBOARD_HTTP__WORKERS": "1",
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp / f"spool-{name}"),
        },
        port,
        tmp / f"ingress-{name}.log",
    )
    return port, proc


async def time_to_in_force(
    settings: ConfigSettings, port: int, tenants: int, trials: int
) -> list[float]:
    """Rotate tenant j's auth token to a new one alone; poll with callbacks signed by the new
    token until one is accepted. Seconds from the publish's ack to that acceptance."""
    out = []
    async with (
        ConfigPublisher(KAFKA, settings) as publisher,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http,
    ):
        for trial in range(trials):
            j = (trial * 7919) % tenants
            new = token(j, trial + 1)
            body, headers = callback(port, j, new)
            refused = await http.post(PATH, content=body, headers=headers)
            if refused.status_code != 403:  # the new token must not work before the change
                sys.exit(f"a token not yet published was answered {refused.status_code}")
            await publisher.put(
                TwilioAccount(id=sid(j), tenants=(f"t{j}",), auth_tokens=(SecretStr(new),))
            )
            published = time.monotonic()
            while True:
                body, headers = callback(port, j, new)
                answer = await http.post(PATH, content=body, headers=headers)
                if answer.status_code == 204:
                    out.append(time.monotonic() - published)
                    break
                if time.monotonic() - published > 30:
                    sys.exit(f"rotation not in force after 30 s ({answer.status_code})")
                await asyncio.sleep(0.005)
    return out


def start_apis(config: ConfigSettings, tmp: Path, database: str) -> list[ServiceProcess]:
    """The dialer API and the AI admin API, each following ``config``."""
    common = {
        **config_env(config),
        **SIGNER.env(),
        "SWITCHBOARD_LOG__LEVEL": "WARNING",
        "SWITCHBOARD_AUTH__RATE_LIMIT_PER_SECOND": "0",
    }
    dialer_port, ai_port = free_port(), free_port()
    dialer = ServiceProcess(
        "dialer-api",
        ["switchboard.dialer", "api"],
        {
            **common,
            "SWITCHBOARD_DATABASE": database,
            "SWITCHBOARD_UPLOAD_PROCESSES": "0",
            "SWITCHBOARD_REDIS_PREFIX": unique("bench-control"),
            "SWITCHBOARD_API__PORT": str(dialer_port),
        },
        dialer_port,
        tmp,
    )
    ai = ServiceProcess(
        "ai-api",
        ["switchboard.ai", "api"],
        {
            **common,
            "SWITCHBOARD_MONGO__DATABASE": database,
            "SWITCHBOARD_CRYPTO__KEYS": AI_RING,
            "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "bench",
            "SWITCHBOARD_REDIS_PREFIX": unique("bench-control-ai"),
            "SWITCHBOARD_HTTP__API_PORT": str(ai_port),
        },
        ai_port,
        tmp,
    )
    for process in (dialer, ai):
        process.wait_ready()
    return [dialer, ai]


async def until_accepted(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, object],
    headers: dict[str, str],
    since: float,
) -> float:
    """Seconds from ``since`` until ``path`` creates (201); 422 (not yet bound) is retried."""
    while True:
        answer = await client.post(path, json=body, headers=headers)
        if answer.status_code == 201:
            return time.monotonic() - since
        if answer.status_code != 422 or time.monotonic() - since > 30:
            sys.exit(f"{path}: {answer.status_code} {answer.text[:300]}")
        await asyncio.sleep(0.005)


async def time_to_bound(
    settings: ConfigSettings, dialer_url: str, ai_url: str, tenants: int, trials: int
) -> tuple[list[float], list[float]]:
    """Bind a new number to tenant j; poll the dialer API (a campaign calling from it) and the
    AI admin API (a business answering on it) until each accepts. Seconds from the publish's
    ack to each acceptance."""
    dialer_lags, ai_lags = [], []
    async with (
        ConfigPublisher(KAFKA, settings) as publisher,
        httpx.AsyncClient(base_url=dialer_url, timeout=10) as dialer,
        httpx.AsyncClient(base_url=ai_url, timeout=10) as ai,
    ):
        for trial in range(trials):
            j = (trial * 7919) % tenants
            new = f"+1415555{trial:04d}"  # a number the dialer accepts as a caller ID
            tenant = f"t{j}"
            campaign = {"name": f"c{trial}", "caller_ids": [new], "twiml": "<Response/>"}
            business = {"name": f"b{trial}", "twilio_numbers": [new]}
            to_dialer = SIGNER.bearer(tenant, Audience.DIALER)
            to_ai = SIGNER.bearer(tenant, Audience.AI)
            before = await dialer.post("/v1/campaigns", json=campaign, headers=to_dialer)
            if before.status_code != 422:
                sys.exit(f"dialer: an unbound number answered {before.status_code} {before.text}")
            await publisher.put(Channel(kind="phone", id=new, tenant=tenant, account_id=sid(j)))
            published = time.monotonic()

            d, a = await asyncio.gather(
                until_accepted(dialer, "/v1/campaigns", campaign, to_dialer, published),
                until_accepted(ai, "/v1/businesses", business, to_ai, published),
            )
            dialer_lags.append(d)
            ai_lags.append(a)
    return dialer_lags, ai_lags


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    if not VEGETA.exists():
        sys.exit("vegeta missing: run `make bench-control` (it installs it into .local/bin)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-control-"))
    one, many = fresh_config(), fresh_config()
    asyncio.run(publish(one, tenant_entities(1)))
    asyncio.run(publish(many, tenant_entities(args.tenants)))
    one_port, one_proc = start_ingress(config_env(one), tmp, "one")
    many_port, many_proc = start_ingress(config_env(many), tmp, "many")
    try:
        one_targets = vegeta_targets(
            [callback(one_port, 0, token(0)) for _ in range(args.requests)],
            f"http://127.0.0.1:{one_port}{PATH}",
            tmp / "one.jsonl",
        )
        many_targets = vegeta_targets(
            [
                callback(many_port, i % args.tenants, token(i % args.tenants))
                for i in range(args.requests)
            ],
            f"http://127.0.0.1:{many_port}{PATH}",
            tmp / "many.jsonl",
        )

        def attack(targets: Path, seconds: int) -> float:
            run = vegeta(
                VEGETA, targets, seconds=seconds, connections=args.connections, expected=204
            )
            if run.ok_share < 0.99:
                sys.exit(f"only {run.ok_share:.2%} answered 204: {run.answers}")
            return run.rate

        attack(one_targets, 2)  # warm both up
        attack(many_targets, 2)
        rounds = []
        for _ in range(args.rounds):
            rounds.append((attack(one_targets, args.seconds), attack(many_targets, args.seconds)))
        rounds.sort(key=lambda r: r[1] / r[0])
        base_rate, many_rate = rounds[len(rounds) // 2]
        lags = asyncio.run(time_to_in_force(many, many_port, args.tenants, args.trials))
        database = unique("bench_control")
        migrate_dialer(PostgresSettings(), database)
        apis = start_apis(many, tmp, database)
        try:
            dialer_lags, ai_lags = asyncio.run(
                time_to_bound(many, apis[0].url, apis[1].url, args.tenants, args.trials)
            )
        finally:
            for api in apis:
                api.stop()
            drop_database(PostgresSettings(), database)
    finally:
        stop(one_proc)
        stop(many_proc)
    ratios = ", ".join(f"{m / o:.3f}" for o, m in rounds)
    results = [
        benchreport.result(
            f"ingress webhooks/s with {args.tenants:,} tenants configured (baseline: 1 tenant)",
            many_rate,
            "req/s",
            baseline=base_rate,
            command=COMMAND,
            target="ratio ≥ 0.95",
            notes=f"median of {args.rounds} alternating rounds (ratios {ratios})",
        ),
        *(
            benchreport.result(
                f"auth-token rotation in force in a running ingress, {name}",
                value * 1000,
                "ms",
                baseline=None,
                command=COMMAND,
                target="< 2000 ms" if name == "p95" else "",
            )
            for name, value in (
                ("p50", statistics.median(lags)),
                ("p95", percentile(lags, 95)),
                ("max", max(lags)),
            )
        ),
        *(
            benchreport.result(
                f"a number bound in force in a running {who}, {name}",
                value * 1000,
                "ms",
                baseline=None,
                command=COMMAND,
                target="< 2000 ms" if name == "p95" else "",
            )
            for who, values in (("dialer API", dialer_lags), ("AI admin API", ai_lags))
            for name, value in (
                ("p50", statistics.median(values)),
                ("p95", percentile(values, 95)),
                ("max", max(values)),
            )
        ),
    ]
    context = {
        "box load at the end (1/5/15 min)": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
        "throughput": f"one ingress process each (uvicorn, 1 worker, rate limit off, real Kafka "
        f"acks=all), vegeta closed loop with {args.connections} workers, {args.seconds} s per "
        f"run; {args.requests:,} distinct signed Twilio status callbacks, spread over every "
        "tenant's account and number in the many-tenant run",
        "in force": f"{args.trials} rotations of a tenant's Twilio auth token to a new one alone, "
        "published on the config topic as the control plane's relay publishes it (sealed, "
        "acks=all); timed from the publish's ack to the first callback signed with the new "
        "token that the ingress accepts (polled every 5 ms); the relay's own outbox poll "
        "(SWITCHBOARD_RELAY__INTERVAL_S, 0.2 s) comes before this",
        "bound": f"{args.trials} new numbers bound to a tenant (channel/phone on the topic); "
        "timed from the publish's ack to the first campaign the dialer API creates calling "
        "from it and the first business the AI admin API creates answering on it (both "
        "polled every 5 ms; an unbound number gets 422, checked before each publish)",
    }
    path = benchreport.write(ROOT, "control", results, context)
    for r in results:
        print(f"{r.metric:80} {r.value:>10} {r.unit:6} baseline={r.baseline} ratio={r.ratio}")
    print(f"rounds (many/one): {ratios}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
