"""Every Grafana panel's query returns a series from a stack that has run the demo's traffic.

The processes compose runs (simulator, ingress, history, dialer and AI workers and APIs, the AI
voice API, lag exporter) start on free ports with their own databases, groups and Redis
prefixes; the demo (`switchboard-provider-sim demo`, small) sends calls, WhatsApp messages, an AI
conversation, a live Vapi call and a dialer campaign through them; a Prometheus of the test's
own (scripts/infra, 1 s scrapes) scrapes them all. Each panel query is then asked of Prometheus
over the run's time range, as Grafana asks it, and must return at least one series.
"""

import asyncio
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pymongo import MongoClient

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.config import (
    Channel,
    ConfigEntity,
    ModelPrice,
    PlanLimits,
    Tenant,
    TwilioAccount,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.common.migrations import drop_database
from switchboard.common.settings import CommonSettings, KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    free_port,
    fresh_group,
    seeded_config_env,
    unique,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_OUTBOUND, MESSAGE_STATUS
from switchboard.providersim import demo_voice
from switchboard.providersim.settings import SimSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "compose/grafana/dashboards"
ACCOUNT, TOKEN = "AC" + "0" * 32, "local-dev-auth-token"  # the simulator's default account
TENANT, WHATSAPP_APP = "local", "local-whatsapp-app"
CALLER_IDS = ("+15005550006", "+12125550100", "+13125550100", "+14155550100")
CONVERSATION_NUMBER = "109000000000001"  # the demo conversation's phone_number_id
LIMITED_NUMBER = "109000000000002"  # the business with a spend limit
SIGNER_SEED = "dashboards-test"
SIGNER = LocalSigner.from_seed(SIGNER_SEED)
AI_KEY = '{"dash-test": "QdoJaGjUMfwMggz4CCZv5jCJr6qpT/Gza+SRx1o5SNs="}'
VAPI_ORG, VAPI_SECRET = "local-vapi-org", "local-voice-secret"  # the demo's local Vapi account
VOICE_INTERNAL = "dashboards-test-voice-internal-secret"
TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)


def control_plane() -> list[ConfigEntity]:
    """The tenant, its accounts and channels, as the control plane would publish them."""
    waba = SimSettings().sim.whatsapp
    return [
        Tenant(
            id=TENANT,
            name="Local",
            limits=PlanLimits(calls_per_second=5, concurrent_calls=20),
        ),
        TwilioAccount(
            id=ACCOUNT,
            tenants=(TENANT,),
            auth_tokens=(SecretStr(TOKEN),),
            cps=5,
            max_concurrent=20,
        ),
        *(
            Channel(kind="phone", id=number, tenant=TENANT, account_id=ACCOUNT)
            for number in CALLER_IDS
        ),
        WhatsAppAccount(
            id=WHATSAPP_APP,
            tenants=(TENANT,),
            app_secrets=(SecretStr("local-app-secret"),),
            waba_ids=(waba.waba_id,),
        ),
        *(
            Channel(
                kind="whatsapp",
                id=number,
                tenant=TENANT,
                account_id=WHATSAPP_APP,
                waba_id=waba.waba_id,
            )
            for number in (*waba.phone_numbers, CONVERSATION_NUMBER, LIMITED_NUMBER)
        ),
        # The demo's live Vapi call: the restaurant's number and assistant.
        VapiAccount(id=VAPI_ORG, tenants=(TENANT,), webhook_secrets=(SecretStr(VAPI_SECRET),)),
        Channel(
            kind="vapi-phone", id=demo_voice.PHONE_NUMBER_ID, tenant=TENANT, account_id=VAPI_ORG
        ),
        Channel(
            kind="vapi-assistant", id=demo_voice.ASSISTANT_ID, tenant=TENANT, account_id=VAPI_ORG
        ),
        # The AI service's default model, offered by the operator.
        ModelPrice(
            id="gpt-4o-mini",
            input_per_1k_usd=Decimal("0.00015"),
            output_per_1k_usd=Decimal("0.0006"),
        ),
    ]


def panel_queries() -> dict[str, str]:
    """ "<file>: <panel title> [<refId>]" → PromQL, for every target of every panel."""
    queries = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                queries[f"{path.name}: {panel['title']} [{target.get('refId')}]"] = target["expr"]
    return queries


class Running:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.processes: dict[str, ServiceProcess] = {}

    def start(self, name: str, args: list[str], env: dict[str, str]) -> ServiceProcess:
        port = free_port()
        ports = {
            f"SWITCHBOARD_{var}": str(port)
            for var in (
                "HTTP__PORT",
                "API__PORT",
                "HTTP__API_PORT",
                "HTTP__WORKER_PORT",
                "SIM__PORT",
            )
        }
        process = ServiceProcess(
            name,
            args,
            {
                "SWITCHBOARD_LOG__LEVEL": "INFO",
                **SIGNER.env(),
                "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
                **ports,
                **env,
            },
            port,
            self.logdir,
        )
        self.processes[name] = process
        return process


@pytest.fixture(scope="module")
def demo_stack(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_settings: KafkaSettings,
    pg_settings: PostgresSettings,
    common_settings: CommonSettings,
    monitoring: Any,
) -> Iterator[tuple[Any, float, float]]:
    running = Running(tmp_path_factory.mktemp("dashboard-logs"))
    history_db, dialer_db, ai_db = unique("dash_history"), unique("dash_dialer"), unique("dash_ai")
    groups = {
        name: asyncio.run(fresh_group(kafka_settings, f"dash-{name}", TOPICS))
        for name in ("history", "dialer", "ai")
    }
    ingress_port, voice_port = free_port(), free_port()
    config = seeded_config_env(kafka_settings, control_plane())
    sim = running.start(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_SIM__TIME_SCALE": "0.01",
            "SWITCHBOARD_SIM__SEED": "11",
            "SWITCHBOARD_SIM__WHATSAPP__WEBHOOK_URL": (
                f"http://127.0.0.1:{ingress_port}/webhooks/whatsapp"
            ),
        },
    )
    sim_url = sim.url
    ingress = ServiceProcess(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            "SWITCHBOARD_HTTP__PORT": str(ingress_port),
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
            **config,
            "SWITCHBOARD_VOICE__AI_URL": f"http://127.0.0.1:{voice_port}",
            "SWITCHBOARD_VOICE__INTERNAL_SECRET": VOICE_INTERNAL,
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path_factory.mktemp("dash-spool")),
        },
        ingress_port,
        running.logdir,
    )
    running.processes["ingress"] = ingress
    history = {
        "SWITCHBOARD_DATABASE": history_db,
        "SWITCHBOARD_CONSUMER__GROUP_ID": groups["history"],
        **config,
    }
    dialer = {
        "SWITCHBOARD_DATABASE": dialer_db,
        "SWITCHBOARD_CONSUMER__GROUP_ID": groups["dialer"],
        "SWITCHBOARD_CONSUMER__COMMANDS_GROUP_PREFIX": unique("dash-dialer-commands"),
        "SWITCHBOARD_REDIS_PREFIX": unique("dash-dialer"),
        **config,  # the tenant, its account, caller IDs and limits
        "SWITCHBOARD_TWILIO__API_BASE_URL": sim_url,
        "SWITCHBOARD_INGRESS_PUBLIC_URL": ingress.url,
    }
    ai = {
        "SWITCHBOARD_MONGO__DATABASE": ai_db,
        "SWITCHBOARD_CONSUMER__GROUP_ID": groups["ai"],
        "SWITCHBOARD_REDIS_PREFIX": unique("dash-ai"),
        "SWITCHBOARD_CRYPTO__KEYS": AI_KEY,
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "dash-test",
        "SWITCHBOARD_OPENAI__BASE_URL": f"{sim_url}/v1",
        "SWITCHBOARD_OPENAI__API_KEY": "local-dev-openai-key",
        "SWITCHBOARD_PROVIDERS__WHATSAPP_GRAPH_BASE": sim_url,
        "SWITCHBOARD_PROVIDERS__TWILIO_BASE_URL": sim_url,
        **config,  # the worker and the admin API: who owns each number, the models offered
    }
    try:
        # Workers first: they migrate their databases, which the APIs then open.
        running.start("history-worker", ["switchboard.history", "worker"], history)
        running.start("dialer-worker", ["switchboard.dialer", "worker"], dialer)
        running.start("ai-worker", ["switchboard.ai", "worker"], ai)
        running.processes["ai-voice"] = ServiceProcess(
            "ai-voice",
            ["switchboard.ai", "voice"],
            {
                **ai,
                **config,
                "SWITCHBOARD_HTTP__VOICE_PORT": str(voice_port),
                "SWITCHBOARD_VOICE__INTERNAL_SECRETS": json.dumps([VOICE_INTERNAL]),
            },
            voice_port,
            running.logdir,
        )
        running.start(
            "lag-exporter",
            ["switchboard.lagexporter", "serve"],
            {"SWITCHBOARD_LAG__GROUPS": json.dumps(list(groups.values())),
             "SWITCHBOARD_LAG__POLL_INTERVAL_S": "1"},
        )  # fmt: skip
        for process in running.processes.values():
            process.wait_ready("/health")
        running.start("history-api", ["switchboard.history", "api"], history)
        running.start("dialer-api", ["switchboard.dialer", "api"], dialer)
        running.start("ai-api", ["switchboard.ai", "api"], ai)
        for process in running.processes.values():
            process.wait_ready("/health")
        labels = {
            "ingress": ("ingress", "serve"),
            "history-worker": ("history", "worker"),
            "history-api": ("history", "api"),
            "dialer-worker": ("dialer", "worker"),
            "dialer-api": ("dialer", "api"),
            "ai-worker": ("ai", "worker"),
            "ai-api": ("ai", "api"),
            "ai-voice": ("ai", "voice"),
            "lag-exporter": ("lag-exporter", "serve"),
        }
        monitoring.set_targets(
            {name: (running.processes[name].port, *labels[name]) for name in labels}
        )
        begin = time.time()
        demo = subprocess.run(
            [
                sys.executable, "-m", "switchboard.providersim", "demo",
                "--calls", "20", "--whatsapp-messages", "10", "--campaign-contacts", "8",
                "--sim-url", sim_url, "--ingress-url", ingress.url,
                "--ai-url", running.processes["ai-api"].url,
                "--dialer-url", running.processes["dialer-api"].url,
                "--token-seed", SIGNER_SEED, "--database", history_db,
                "--account-sid", ACCOUNT, "--auth-token", TOKEN, "--timeout-s", "400",
                "--conversation-number", CONVERSATION_NUMBER,
                # No final callback lost: this history worker has no reconciler (make up's has).
                "--drop-final-rate", "0",
            ],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
        # The demo's business has no spend limit; one that has gets the per-business gauge.
        asyncio.run(message_a_business_with_a_spend_limit(sim_url, running.processes["ai-api"].url))
        wait_for_sample(running.processes["ai-worker"], "switchboard_ai_spend_limit_ratio{")
        time.sleep(5)  # a few more scrapes after the last event
        yield monitoring, begin, time.time()
    finally:
        for process in running.processes.values():
            process.stop()
        asyncio.run(asyncio.to_thread(drop_database, pg_settings, history_db, dialer_db))
        client: MongoClient[dict[str, Any]] = MongoClient(
            common_settings.mongo.url.get_secret_value()
        )
        client.drop_database(ai_db)
        client.close()


async def message_a_business_with_a_spend_limit(sim_url: str, ai_url: str) -> None:
    number, token = LIMITED_NUMBER, secrets.token_urlsafe(16)
    async with httpx.AsyncClient(base_url=sim_url, timeout=30) as sim:
        config = {"whatsapp": {"phone_numbers": {number: token}}}
        (await sim.patch("/_sim/config", json=config)).raise_for_status()
        headers = SIGNER.bearer("local", Audience.AI)
        async with httpx.AsyncClient(base_url=ai_url, headers=headers, timeout=30) as api:
            created = await api.post(
                "/v1/businesses",
                json={
                    "name": "Limited Bistro",
                    "system_prompt": "Be brief.",
                    "whatsapp_phone_number_ids": [number],
                    "whatsapp_access_token": token,
                    "monthly_spend_limit_usd": 50.0,
                },
            )
            created.raise_for_status()
        scenario = {"count": 1, "users": 1, "rate": 0, "phone_number_id": number,
                    "text": "Open today?", "numbered": False}  # fmt: skip
        (await sim.post("/_sim/scenarios/whatsapp", json=scenario)).raise_for_status()


def wait_for_sample(process: ServiceProcess, prefix: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while prefix not in httpx.get(process.url + "/metrics", timeout=10).text:
        assert time.monotonic() < deadline, f"{process.name} never exported {prefix}"
        time.sleep(1)


def series_over(prometheus: str, expr: str, begin: float, end: float) -> list[Any]:
    response = httpx.get(
        f"{prometheus}/api/v1/query_range",
        params={"query": expr, "start": begin, "end": end, "step": "2s"},
        timeout=30,
    )
    assert response.status_code == 200, (expr, response.text)
    result: list[Any] = response.json()["data"]["result"]
    return result


def test_every_panel_query_returns_a_series(demo_stack: tuple[Any, float, float]) -> None:
    monitoring, begin, end = demo_stack
    queries = panel_queries()
    assert len(queries) >= 20
    empty = {where: expr for where, expr in queries.items()
             if not series_over(monitoring.prometheus, expr, begin, end)}  # fmt: skip
    assert not empty, f"panels with no series after the demo: {json.dumps(empty, indent=1)}"


def test_the_check_sees_a_query_without_series(demo_stack: tuple[Any, float, float]) -> None:
    monitoring, begin, end = demo_stack
    assert series_over(monitoring.prometheus, "up", begin, end)
    assert not series_over(monitoring.prometheus, "switchboard_no_such_metric_total", begin, end)
