"""How the isolated stack is wired: its ports, its identities (accounts, secrets, tenant) and
each process's environment.

A service's environment is what ``make up`` gives it (scripts/local/common.env and
scripts/local/<service>.env, sourced by bash as scripts/services.sh does) with the stack's own
ports and the harness's settings on top; nothing ``SWITCHBOARD_*`` of the calling shell leaks
in, so the stack never talks to the servers of ``make up`` or of the other tests.
"""

import json
import math
import os
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from switchboard.chaos.options import ChaosOptions
from switchboard.common.auth import LocalSigner
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
from switchboard.common.crypto import new_key
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import free_port, seeded_config_env
from switchboard.common.topics import (
    CALL_EVENTS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
    Groups,
)

TENANT: Final = "chaos"
TRAFFIC_ACCOUNT: Final = "AC" + "c4a0" * 8
"""The simulator's calls scenario calls from this account."""
TRAFFIC_TOKEN: Final = "chaos-traffic-token"  # noqa: S105 - local test credential
DIALER_ACCOUNT: Final = "AC" + "d1a1" * 8
"""The dialer's own account: its calls are the campaign's, and only its."""
DIALER_TOKEN: Final = "chaos-dialer-token"  # noqa: S105 - local test credential
WHATSAPP_NUMBER: Final = "300000000000001"
"""The phone number id of the business the AI answers for."""
WHATSAPP_TOKEN: Final = "chaos-wa-token"  # noqa: S105 - local test credential
APP_SECRET: Final = "chaos-app-secret"  # noqa: S105 - local test credential
VAPI_SECRET: Final = "chaos-vapi-secret"  # noqa: S105 - local test credential
CALLER_IDS: Final = ["+12125550100", "+13125550100", "+14155550100"]
"""The dialer's caller IDs (the campaign's numbers)."""
TRAFFIC_NUMBER: Final = "+15005550006"
"""The simulator's calls scenario calls from this number."""
WHATSAPP_APP: Final = "chaos-whatsapp-app"
WABA_ID: Final = "100000000000001"
"""The simulator's default WhatsApp Business Account."""

GROUP_TOPICS: Final = {
    Groups.HISTORY: (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND),
    Groups.DIALER: (CALL_EVENTS, MESSAGE_INBOUND),
    Groups.AI: (MESSAGE_INBOUND,),
}
"""What each service consumer group reads (each starts at the earliest offset)."""

SERVICE_COMMANDS: Final = {
    # name: (module, command), as scripts/services.sh starts them
    "provider-sim": ("switchboard.providersim", "serve"),
    "ingress": ("switchboard.ingress", "serve"),
    "history": ("switchboard.history", "worker"),
    "history-api": ("switchboard.history", "api"),
    "dialer": ("switchboard.dialer", "worker"),
    "dialer-api": ("switchboard.dialer", "api"),
    "ai": ("switchboard.ai", "worker"),
    "ai-api": ("switchboard.ai", "api"),
}
PORT_VARIABLES: Final = (
    "HTTP__PORT",
    "API__PORT",
    "SIM__PORT",
    "HTTP__API_PORT",
    "HTTP__WORKER_PORT",
)
"""Every variable a service reads its port from (each reads one of them)."""


@dataclass(frozen=True, slots=True)
class Ports:
    """The stack's own ports (free ones, picked at start)."""

    kafka: tuple[int, ...]
    """One port per broker (node 1 first)."""
    kafka_controller: tuple[int, ...]
    postgres: int
    redis: int
    ferretdb: int
    services: dict[str, int]

    @classmethod
    def free(cls, brokers: int = 1) -> "Ports":
        kafka = distinct_free_ports(2 * brokers)
        return cls(
            kafka=tuple(kafka[:brokers]),
            kafka_controller=tuple(kafka[brokers:]),
            postgres=free_port(),
            redis=free_port(),
            ferretdb=free_port(),
            services={name: free_port() for name in SERVICE_COMMANDS},
        )

    @property
    def bootstrap(self) -> str:
        """Every broker, as the services are given them."""
        return ",".join(f"127.0.0.1:{p}" for p in self.kafka)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.services[service]}"

    def as_json(self) -> str:
        return json.dumps(asdict(self))


def distinct_free_ports(count: int) -> list[int]:
    """``count`` different free ports (two calls of ``free_port`` may give the same one)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def infra_env(local_dir: Path, ports: Ports) -> dict[str, str]:
    """What scripts/infra reads: the stack's own directory and ports."""
    return {
        "SWITCHBOARD_LOCAL_DIR": str(local_dir),
        "SWITCHBOARD_KAFKA_BROKERS": str(len(ports.kafka)),
        "SWITCHBOARD_KAFKA_PORT": str(ports.kafka[0]),
        "SWITCHBOARD_KAFKA_CONTROLLER_PORT": str(ports.kafka_controller[0]),
        "SWITCHBOARD_KAFKA_PORTS": ",".join(map(str, ports.kafka)),
        "SWITCHBOARD_KAFKA_CONTROLLER_PORTS": ",".join(map(str, ports.kafka_controller)),
        # Three JVMs on two busy cores start slowly: never give up early.
        "SWITCHBOARD_KAFKA_READY_TIMEOUT": "180",
        "SWITCHBOARD_PG_PORT": str(ports.postgres),
        "SWITCHBOARD_REDIS_PORT": str(ports.redis),
        "SWITCHBOARD_FERRETDB_PORT": str(ports.ferretdb),
    }


def clean_environ() -> dict[str, str]:
    """This process's environment without any ``SWITCHBOARD_`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}


def local_env(root: Path, service: str, given: dict[str, str]) -> dict[str, str]:
    """The ``SWITCHBOARD_`` variables ``make up`` gives ``service`` (scripts/local), with
    ``given`` in the environment while the files are sourced."""
    script = 'set -a; source "$1/common.env"; [[ -f "$1/$2.env" ]] && source "$1/$2.env"; env -0'
    out = subprocess.run(
        ["bash", "-c", script, "local-env", str(root / "scripts" / "local"), service],
        env={**clean_environ(), **given},
        capture_output=True,
        check=True,
    ).stdout.decode()
    pairs = (line.split("=", 1) for line in out.split("\0") if "=" in line)
    return {k: v for k, v in pairs if k.startswith("SWITCHBOARD_") and k not in given}


def servers_env(ports: Ports) -> dict[str, str]:
    """Where every service finds Kafka, PostgreSQL, Redis and FerretDB."""
    return {
        "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": ports.bootstrap,
        "SWITCHBOARD_POSTGRES__PORT": str(ports.postgres),
        "SWITCHBOARD_REDIS__URL": f"redis://127.0.0.1:{ports.redis}/0",
        "SWITCHBOARD_MONGO__URL": f"mongodb://127.0.0.1:{ports.ferretdb}/",
    }


def control_plane(options: ChaosOptions) -> list[ConfigEntity]:
    """The tenant, its accounts and channels, as the control plane would publish them: the
    ingress verifies and attributes every webhook from these, the dialer places the
    campaign's calls under them (limits well above the campaign's pace: a breach would be the
    dialer's fault), history's reconciler looks calls up with them."""
    cps, concurrent = options.mix.campaign_cps(options.rate) * 2, campaign_concurrency(options) * 2
    return [
        Tenant(
            id=TENANT,
            name="Chaos",
            limits=PlanLimits(calls_per_second=cps, concurrent_calls=concurrent),
        ),
        TwilioAccount(
            id=TRAFFIC_ACCOUNT, tenants=(TENANT,), auth_tokens=(SecretStr(TRAFFIC_TOKEN),)
        ),
        TwilioAccount(
            id=DIALER_ACCOUNT,
            tenants=(TENANT,),
            auth_tokens=(SecretStr(DIALER_TOKEN),),
            cps=cps,
            max_concurrent=concurrent,
        ),
        Channel(kind="phone", id=TRAFFIC_NUMBER, tenant=TENANT, account_id=TRAFFIC_ACCOUNT),
        *(
            Channel(kind="phone", id=number, tenant=TENANT, account_id=DIALER_ACCOUNT)
            for number in CALLER_IDS
        ),
        WhatsAppAccount(
            id=WHATSAPP_APP,
            tenants=(TENANT,),
            app_secrets=(SecretStr(APP_SECRET),),
            waba_ids=(WABA_ID,),
        ),
        Channel(
            kind="whatsapp",
            id=WHATSAPP_NUMBER,
            tenant=TENANT,
            account_id=WHATSAPP_APP,
            waba_id=WABA_ID,
        ),
        VapiAccount(id="org-chaos", tenants=(TENANT,), webhook_secrets=(SecretStr(VAPI_SECRET),)),
        # The AI service's default model, offered by the operator (else every reply refused).
        ModelPrice(
            id="gpt-4o-mini",
            input_per_1k_usd=Decimal("0.00015"),
            output_per_1k_usd=Decimal("0.0006"),
        ),
    ]


def stack_keys(signer: LocalSigner) -> dict[str, str]:
    """Keys of one run's own: the APIs trust ``signer``'s tokens; the AI service's at-rest
    ring is fresh (the example rings of scripts/local stop a service outside ``local``)."""
    return {
        **signer.env(),
        "SWITCHBOARD_CRYPTO__KEYS": json.dumps({"chaos": new_key()}),
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "chaos",
    }


def control_plane_env(ports: "Ports", options: ChaosOptions) -> dict[str, str]:
    """A config topic on the stack's Kafka holding :func:`control_plane`, and the variables
    that make every service follow it (Kafka must be up)."""
    kafka = KafkaSettings(bootstrap_servers=ports.bootstrap)
    return seeded_config_env(kafka, control_plane(options))


def twilio_accounts(options: ChaosOptions) -> dict[str, dict[str, object]]:
    """The simulator's accounts: the traffic account never limits the scenario; the dialer's
    limits sit well above the campaign's pace (a breach would be the dialer's fault)."""
    calls = options.mix.calls_per_s(options.rate)
    cps = options.mix.campaign_cps(options.rate)
    return {
        TRAFFIC_ACCOUNT: {
            "auth_token": TRAFFIC_TOKEN,
            "cps": calls * 4 + 50,
            "queue_size": 1_000_000,
            "max_concurrent_calls": 1_000_000,
            "max_concurrent_requests": 1000,
        },
        DIALER_ACCOUNT: {
            "auth_token": DIALER_TOKEN,
            "cps": cps * 4 + 5,
            "queue_size": 10_000,
            "max_concurrent_calls": 10_000,
        },
    }


def webhooks_in_flight(options: ChaosOptions) -> int:
    """The simulator's webhooks in flight: room for the rate asked with answers of ~100 ms.
    A provider's default (32) would cap the rate itself at 32 ÷ the answer time (Little's
    law: ~500/s at 60 ms), and the run would measure the load generator, not the stack."""
    return max(32, math.ceil(options.rate * 0.1))


def campaign_concurrency(options: ChaosOptions) -> int:
    """The campaign's live-call cap: room for its pace with calls of a second or so."""
    return max(10, round(options.mix.campaign_cps(options.rate) * 10))


def overrides(name: str, ports: Ports, options: ChaosOptions, spool: Path) -> dict[str, str]:
    """The harness's settings for one service, over make up's."""
    sim = ports.url("provider-sim")
    ingress = ports.url("ingress")
    if name == "provider-sim":
        return {
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(twilio_accounts(options)),
            "SWITCHBOARD_SIM__TIME_SCALE": str(options.time_scale),
            "SWITCHBOARD_SIM__LOG_WEBHOOKS": "false",
            "SWITCHBOARD_SIM__MAX_CONNECTIONS": str(webhooks_in_flight(options)),
        }
    if name == "ingress":
        return {
            # Accounts and channels come from the control plane's topic (control_plane_env).
            "SWITCHBOARD_HTTP__RATE_LIMIT_PER_SECOND": "0",
            # The stack runs no voice API and sends no live voice request: no secret, so a
            # stray one gets the fallback, never another checkout's API on make up's port.
            "SWITCHBOARD_VOICE__INTERNAL_SECRET": "",
            "SWITCHBOARD_SPOOL__DIRECTORY": str(spool),
        }
    if name == "history":
        return {
            "SWITCHBOARD_DEFAULT_TENANT": TENANT,
            "SWITCHBOARD_RECONCILE__TWILIO_BASE_URL": sim,  # accounts: control_plane_env
            "SWITCHBOARD_RECONCILE__GRACE_S": str(options.reconcile_grace_s),
            "SWITCHBOARD_RECONCILE__INTERVAL_S": str(options.reconcile_interval_s),
            "SWITCHBOARD_RECONCILE__BATCH_LIMIT": "1000",
        }
    if name in ("dialer", "dialer-api"):
        return {
            # The account, caller IDs and limits come from the control plane's topic.
            "SWITCHBOARD_TWILIO__API_BASE_URL": sim,
            "SWITCHBOARD_INGRESS_PUBLIC_URL": ingress,
            "SWITCHBOARD_WINDOW__START": "00:00",
            "SWITCHBOARD_WINDOW__END": "23:59:59",
            # A call whose final callback is lost is looked up after this, not 15 minutes.
            "SWITCHBOARD_WORKER__STATUS_CHECK_AFTER_S": str(options.reconcile_grace_s * 2),
            "SWITCHBOARD_WORKER__STATUS_RECHECK_S": str(options.reconcile_grace_s),
        }
    return {}


def service_env(
    root: Path,
    name: str,
    ports: Ports,
    options: ChaosOptions,
    spool: Path,
    keys: Mapping[str, str],
) -> dict[str, str]:
    """The whole environment of one service process (``keys``: the stack's own token keys
    and key rings, :func:`stack_keys`; outside ``environment=local`` the services refuse the
    example keys of scripts/local)."""
    port = str(ports.services[name])
    given = {
        "SWITCHBOARD_SIM_PORT": str(ports.services["provider-sim"]),
        "SWITCHBOARD_INGRESS_PORT": str(ports.services["ingress"]),
    }
    env = {**clean_environ(), **local_env(root, name, given)}
    env.update(servers_env(ports))
    env.update({f"SWITCHBOARD_{var}": port for var in PORT_VARIABLES})
    env["SWITCHBOARD_HTTP__PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    env["SWITCHBOARD_ENVIRONMENT"] = "chaos"
    env["SWITCHBOARD_LOG__LEVEL"] = "INFO"
    env.update(keys)
    env.update(overrides(name, ports, options, spool))
    return env
