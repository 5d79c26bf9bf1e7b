"""docs/operations/tenants.md, run for real: every ```bash block of the page, in order, in one
shell session, against a real control API, a real ingress and a real history API process (each
following its own control.config). Between blocks the test checks what the page says happened:
the tenant's events carry its id, its history token reads its calls, the operator's models and
the tenant's plan are stored, a rotated Twilio auth token, WhatsApp app secret and Vapi secret
are both accepted during the overlap and the old one is refused once removed (no restart),
revoked keys get no token, and the platform's key rings rotate with the steps the page gives.
"""

import asyncio
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from switchboard.common.crypto import new_key
from switchboard.common.migrations import drop_database
from switchboard.common.settings import KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    config_env,
    config_settings,
    end_offsets,
    read_records,
    twilio_signature,
    unique,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND
from switchboard.history.migrate import migrate as migrate_history

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs/operations/tenants.md"
BLOCK = re.compile(r"^( *)```bash\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
VOICE = "/webhooks/twilio/voice/status"


def blocks() -> list[str]:
    return [textwrap.dedent(m.group(2)) for m in BLOCK.finditer(PAGE.read_text())]


def secret(name: str) -> str:
    return f"{name}-{secrets.token_hex(12)}"


class Shell:
    """One shell session over several ``bash`` runs: exported variables carry over."""

    def __init__(self, state: Path, env: dict[str, str]) -> None:
        self.state, self.env = state, env
        state.write_text("")

    def run(self, script: str) -> str:
        wrapped = (
            f'set -euo pipefail\nsource "{self.state}"\n{script}\nexport -p > "{self.state}"\n'
        )
        done = subprocess.run(
            ["bash", "-c", wrapped],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (
            f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
        return done.stdout

    def set(self, **values: str) -> None:
        with self.state.open("a") as f:
            for name, value in values.items():
                f.write(f"export {name}={json.dumps(value)}\n")

    def get(self, name: str) -> str:
        return self.run(f'printf %s "${name}"')


def until(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        time.sleep(0.2)


@pytest.fixture
def stack(start_service, tmp_path, pg_settings: PostgresSettings, kafka_settings: KafkaSettings):
    """The control API, an ingress and the history API on a control.config of their own; their
    environments."""
    config = config_settings()
    at_rest = {"r1": new_key()}
    control_env = {
        "SWITCHBOARD_DATABASE": unique("control_runbook"),
        "SWITCHBOARD_CRYPTO__KEYS": json.dumps(at_rest),
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "r1",
        "SWITCHBOARD_RELAY__INTERVAL_S": "0.1",
        "LITESTAR_DEBUG": "1",
        **config_env(config),
    }
    ingress_env = {"SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path / "spool"), **config_env(config)}
    history_db = unique("history_runbook")
    migrate_history(pg_settings, history_db)
    # The history API follows the signing keys there: the page's tokens open it without restart.
    history_env = {"SWITCHBOARD_DATABASE": history_db, **config_env(config)}
    running = {
        "control": start_service("control", ["switchboard.control", "api"], control_env),
        "ingress": start_service("ingress", ["switchboard.ingress", "serve"], ingress_env),
        "history": start_service("history-api", ["switchboard.history", "api"], history_env),
    }
    for service in running.values():
        service.wait_ready()
    yield {"running": running, "control_env": control_env, "ingress_env": ingress_env}
    for service in running.values():
        service.stop()
    drop_database(pg_settings, control_env["SWITCHBOARD_DATABASE"])
    drop_database(pg_settings, history_db)


@pytest.mark.timeout(900)
def test_the_tenants_page_runs_as_written(
    stack: dict[str, Any], start_service: Any, tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    running: dict[str, ServiceProcess] = stack["running"]
    control_env, ingress_env = stack["control_env"], stack["ingress_env"]
    page = blocks()
    assert len(page) == 18, "a block was added to or removed from the page: check it here too"
    v = {
        "TWILIO_ACCOUNT_SID": "AC" + uuid.uuid4().hex,
        "TWILIO_AUTH_TOKEN": secret("twilio"),
        "NEW_TWILIO_AUTH_TOKEN": secret("twilio-new"),
        "NUMBER": f"+1415{secrets.randbelow(10**7):07d}",
        "META_APP_ID": f"app-{uuid.uuid4().hex[:8]}",
        "META_APP_SECRET": secret("meta"),
        "NEW_META_APP_SECRET": secret("meta-new"),
        "META_VERIFY_TOKEN": secret("verify"),
        "WABA_ID": str(secrets.randbelow(10**14)),
        "PHONE_NUMBER_ID": str(secrets.randbelow(10**14)),
        "VAPI_ORG_ID": f"org-{uuid.uuid4().hex[:8]}",
        "VAPI_SECRET": secret("vapi"),
        "NEW_VAPI_SECRET": secret("vapi-new"),
        "VAPI_ASSISTANT_ID": f"asst-{uuid.uuid4().hex[:8]}",
    }
    path = f"{ROOT / '.venv/bin'}:{os.environ['PATH']}"
    shell = Shell(
        tmp_path / "session.sh",
        {
            **os.environ,
            **control_env,
            **v,
            "PATH": path,
            "CONTROL": running["control"].url,
            "HISTORY": running["history"].url,
        },
    )
    ingress = running["ingress"]

    def twilio(token: str, sid: str) -> int:
        url = ingress.url + VOICE
        params = {
            "AccountSid": v["TWILIO_ACCOUNT_SID"],
            "CallSid": sid,
            "CallStatus": "ringing",
            "SequenceNumber": "1",
            "Direction": "outbound-api",
            "From": v["NUMBER"],
            "To": "+15551230000",
        }
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(url, params, token),
        }
        return httpx.post(url, content=urlencode(params), headers=headers, timeout=30).status_code

    def whatsapp(app_secret: str, message_id: str) -> int:
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": v["PHONE_NUMBER_ID"]},
            "messages": [{"from": "16505550000", "id": message_id, "type": "text", "text": {}}],
        }
        body = json.dumps(
            {
                "object": "whatsapp_business_account",
                "entry": [{"id": v["WABA_ID"], "changes": [{"field": "messages", "value": value}]}],
            }
        ).encode()
        mac = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"content-type": "application/json", "x-hub-signature-256": f"sha256={mac}"}
        return httpx.post(
            ingress.url + "/webhooks/whatsapp", content=body, headers=headers, timeout=30
        ).status_code

    def vapi(server_secret: str, call_id: str) -> int:
        body = {
            "message": {
                "type": "status-update",
                "status": "ringing",
                "call": {"id": call_id, "assistantId": v["VAPI_ASSISTANT_ID"]},
            }
        }
        return httpx.post(
            ingress.url + "/webhooks/vapi",
            json=body,
            headers={"x-vapi-secret": server_secret},
            timeout=30,
        ).status_code

    def exchange(key: str) -> int:
        return httpx.post(
            running["control"].url + "/v1/tokens",
            headers={"authorization": f"Bearer {key}"},
            json={"audience": "control"},
            timeout=30,
        ).status_code

    def rotation(check: Callable[[str, str], int], old: str, new: str, step1: str, step2: str):
        shell.run(step1)  # the new one in front
        until(lambda: check(new, "n-" + uuid.uuid4().hex) in (200, 204), "the new secret in force")
        assert check(old, "o-" + uuid.uuid4().hex) in (200, 204)  # the overlap
        shell.run(step2)  # the old one goes
        until(lambda: check(old, "x-" + uuid.uuid4().hex) == 403, "the old secret refused")
        assert check(new, "n-" + uuid.uuid4().hex) in (200, 204)

    calls_start = asyncio.run(end_offsets(kafka_settings, CALL_EVENTS))
    inbound_start = asyncio.run(end_offsets(kafka_settings, MESSAGE_INBOUND))
    session, tenant, accounts, key, tokens, models, bind = page[:7]
    rotations = page[7:13]
    shell.run(session)
    assert shell.get("OP_TOKEN").count(".") == 2  # a JWT
    assert shell.get("OPERATOR_KEY").startswith("sbk_")
    shell.run(tenant)
    shell.run(accounts)
    shell.run(key)
    assert shell.get("ACME_KEY").startswith("sbk_")

    # The history API reads the control plane's signing key on control.config (no restart):
    # wait until it does before the page's token is used there.
    operator = {"authorization": f"Bearer {shell.get('OP_TOKEN')}"}
    probe = httpx.post(
        running["control"].url + "/v1/admin/tenants/acme/api-keys",
        json={"name": "probe", "scopes": ["history:read"]},
        headers=operator,
        timeout=30,
    ).json()["key"]

    def history_follows_the_signing_key() -> bool:
        issued = httpx.post(
            running["control"].url + "/v1/tokens",
            json={"audience": "history"},
            headers={"authorization": f"Bearer {probe}"},
            timeout=30,
        ).json()["access_token"]
        calls = httpx.get(
            running["history"].url + "/v1/calls",
            headers={"authorization": f"Bearer {issued}"},
            timeout=30,
        )
        return calls.status_code == 200

    until(history_follows_the_signing_key, "the history API knows the signing key")
    assert json.loads(shell.run(tokens)) == {"items": [], "next_cursor": None}
    assert shell.get("HISTORY_TOKEN").count(".") == 2
    # A history token opens history only: the control API refuses it.
    refused = httpx.get(
        running["control"].url + "/v1/channels",
        headers={"authorization": f"Bearer {shell.get('HISTORY_TOKEN')}"},
        timeout=30,
    )
    assert refused.status_code == 401, refused.text

    # The operator's models with their prices, and acme's plan naming two of them.
    listed = shell.run(models).splitlines()
    assert set(listed[:-1]) == {"gpt-4o-mini", "gpt-4.1"}
    assert json.loads(listed[-1])["allowed_models"] == ["gpt-4o-mini", "gpt-4.1"]
    offered = httpx.get(running["control"].url + "/v1/admin/models", headers=operator, timeout=30)
    prices = {m["id"]: m for m in offered.json()}
    assert float(prices["gpt-4.1"]["output_per_1k_usd"]) == 0.008
    # Before the number is bound the account verifies, but the event is nobody's.
    until(lambda: twilio(v["TWILIO_AUTH_TOKEN"], "CAbefore") == 204, "the account in force")
    shell.run(bind)
    until(lambda: twilio(v["TWILIO_AUTH_TOKEN"], "CAafter") == 204, "still verifying")

    def tenant_of_call(sid: str) -> str | None:
        records = asyncio.run(
            read_records(
                kafka_settings, CALL_EVENTS, calls_start, until=lambda r: False, timeout_s=1
            )
        )
        found = [dict(r.headers) for r in records if r.key == sid.encode()]
        return found[-1].get("ce_tenant", b"").decode() if found else None

    def owned_call() -> bool:
        twilio(v["TWILIO_AUTH_TOKEN"], "CAowned")
        return tenant_of_call("CAowned") == "acme"

    until(owned_call, "acme's number gives acme its calls")
    assert tenant_of_call("CAbefore") is None  # unowned.events, not call.events
    until(lambda: whatsapp(v["META_APP_SECRET"], "wamid.owned") == 200, "WhatsApp verified")
    records = asyncio.run(
        read_records(
            kafka_settings,
            MESSAGE_INBOUND,
            inbound_start,
            until=lambda rs: any(dict(r.headers).get("ce_subject") == b"wamid.owned" for r in rs),
            timeout_s=30,
        )
    )
    owned = [
        dict(r.headers) for r in records if dict(r.headers).get("ce_subject") == b"wamid.owned"
    ]
    assert owned and owned[0]["ce_tenant"] == b"acme"
    until(lambda: vapi(v["VAPI_SECRET"], "vapi-owned") == 200, "Vapi verified")

    # Rotations, each live in the running ingress: both during the overlap, then only the new.
    rotation(twilio, v["TWILIO_AUTH_TOKEN"], v["NEW_TWILIO_AUTH_TOKEN"], *rotations[0:2])
    rotation(whatsapp, v["META_APP_SECRET"], v["NEW_META_APP_SECRET"], *rotations[2:4])
    rotation(vapi, v["VAPI_SECRET"], v["NEW_VAPI_SECRET"], *rotations[4:6])

    # Keys: the tenant replaces its own, then the operator revokes the new one.
    replace, revoke, signing, at_rest, distribution = page[13:]
    first_key = shell.get("ACME_KEY")
    shell.run(replace)
    assert exchange(first_key) == 401
    assert exchange(shell.get("ACME_KEY")) == 200
    shell.run(revoke)
    assert exchange(shell.get("ACME_KEY")) == 401

    # The token signing key.
    shell.run(signing)
    keys = httpx.get(running["control"].url + "/v1/signing-keys", timeout=30).json()
    assert {k["status"] for k in keys} == {"active", "retired"}

    # The at-rest ring: the new key in every control process's ring, current; re-encrypt;
    # then the old key leaves the ring and every secret still opens.
    def restart_control(**env: str) -> None:
        running["control"].stop()
        control_env.update(env)
        running["control"] = start_service("control", ["switchboard.control", "api"], control_env)
        running["control"].wait_ready()
        # The session's saved exports come after its environment: they must change too.
        shell.set(CONTROL=running["control"].url, **env)

    old_ring = json.loads(control_env["SWITCHBOARD_CRYPTO__KEYS"])
    new_ring = {**old_ring, "r2": new_key()}
    restart_control(
        SWITCHBOARD_CRYPTO__KEYS=json.dumps(new_ring), SWITCHBOARD_CRYPTO__CURRENT_KEY_ID="r2"
    )
    assert "re-encrypted" in shell.run(at_rest)
    restart_control(SWITCHBOARD_CRYPTO__KEYS=json.dumps({"r2": new_ring["r2"]}))
    shell.run(session)  # a new token, from the re-encrypted signing key
    account = httpx.get(
        f"{running['control'].url}/v1/admin/accounts/twilio/{v['TWILIO_ACCOUNT_SID']}",
        headers={"authorization": f"Bearer {shell.get('OP_TOKEN')}"},
        timeout=30,
    )
    assert account.status_code == 200, account.text

    # The distribution ring: every reader gets the new key first, then the control plane
    # seals with it and publishes again; a reader holding only the new key verifies.
    old_d = json.loads(control_env["SWITCHBOARD_CONFIG__KEYS"])
    both = json.dumps({**old_d, "d2": new_key()})
    ingress.stop()
    ingress_env["SWITCHBOARD_CONFIG__KEYS"] = both
    ingress = running["ingress"] = start_service(
        "ingress", ["switchboard.ingress", "serve"], ingress_env
    )
    ingress.wait_ready()
    restart_control(SWITCHBOARD_CONFIG__KEYS=both, SWITCHBOARD_CONFIG__CURRENT_KEY_ID="d2")
    assert "queued" in shell.run(distribution)
    time.sleep(3)  # the relay publishes the queue (every 0.1 s here)
    ingress.stop()
    ingress_env["SWITCHBOARD_CONFIG__KEYS"] = json.dumps({"d2": json.loads(both)["d2"]})
    ingress_env["SWITCHBOARD_CONFIG__CURRENT_KEY_ID"] = "d2"
    ingress_env["SWITCHBOARD_SPOOL__DIRECTORY"] = str(tmp_path / "spool-2")
    ingress = running["ingress"] = start_service(
        "ingress", ["switchboard.ingress", "serve"], ingress_env
    )
    ingress.wait_ready()
    until(lambda: twilio(v["NEW_TWILIO_AUTH_TOKEN"], "CAlast") == 204, "verified with d2 only")
