"""`make up` on a fresh copy of the repository, with no SWITCHBOARD_ setting but its own ports
and data directory: the control plane is migrated and bootstrapped from
scripts/local/bootstrap.yaml, and the ingress verifies the simulator's local account through it.
Then `make up BOOTSTRAP=<a user's file>` adds that file's tenant, account and number.

Slow (it installs and starts its own Kafka, PostgreSQL, Redis and FerretDB): one test for both.
"""

import asyncio
import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import free_port, read_records, twilio_signature
from switchboard.common.topics import CALL_EVENTS

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
PORTS = (
    "KAFKA_PORT",
    "KAFKA_CONTROLLER_PORT",
    "PG_PORT",
    "REDIS_PORT",
    "FERRETDB_PORT",
    "SIM_PORT",
    "INGRESS_PORT",
    "HISTORY_PORT",
    "HISTORY_API_PORT",
    "DIALER_PORT",
    "DIALER_API_PORT",
    "AI_PORT",
    "AI_API_PORT",
    "CONTROL_PORT",
    "AI_VOICE_PORT",
    "LAG_EXPORTER_PORT",
)
LOCAL_ACCOUNT, LOCAL_TOKEN = "AC00000000000000000000000000000000", "local-dev-auth-token"
USER_FILE = """\
version: 1
tenants:
  - {id: acme, name: Acme}
accounts:
  - {provider: twilio, id: ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, tenants: [acme],
     auth_tokens: ["${ACME_TWILIO_TOKEN}"]}
channels:
  - {kind: phone, id: "+13105550100", tenant: acme, account_id: ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}
"""


def copy_of_the_checkout(target: Path) -> None:
    """What a clone would hold, with this checkout's uncommitted changes."""
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name.decode())


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    clone = tmp_path_factory.mktemp("fresh-clone")
    copy_of_the_checkout(clone)
    local = clone / ".local"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update({f"SWITCHBOARD_{name}": str(free_port()) for name in PORTS})
    env["SWITCHBOARD_LOCAL_DIR"] = str(local)  # its default, spelled out for the clean-up
    # scripts/local/common.env derives the services' connection settings from the ports above;
    # they are spelled out too, so that no service of this copy could ever reach a server on
    # the default ports (another checkout's) even if that derivation broke.
    env.update(
        {
            "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{env['SWITCHBOARD_KAFKA_PORT']}",
            "SWITCHBOARD_POSTGRES__PORT": env["SWITCHBOARD_PG_PORT"],
            "SWITCHBOARD_REDIS__URL": f"redis://127.0.0.1:{env['SWITCHBOARD_REDIS_PORT']}/0",
            "SWITCHBOARD_MONGO__URL": f"mongodb://127.0.0.1:{env['SWITCHBOARD_FERRETDB_PORT']}/",
        }
    )
    try:
        yield clone, env
    finally:
        subprocess.run(["make", "down"], cwd=clone, env=env, capture_output=True, timeout=300)
        # scripts/infra/postgres.sh keeps a long data path here (socket path limit)
        pg_base = "/tmp/switchboard-pg-" + hashlib.sha256(str(local).encode()).hexdigest()[:12]  # noqa: S108
        shutil.rmtree(pg_base, ignore_errors=True)


def make(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", *args], cwd=clone, env=env, capture_output=True, text=True, timeout=1800
    )


def callback(env: dict[str, str], account: str, token: str, caller_id: str, sid: str) -> int:
    url = f"http://127.0.0.1:{env['SWITCHBOARD_INGRESS_PORT']}/webhooks/twilio/voice/status"
    params = {
        "AccountSid": account,
        "CallSid": sid,
        "CallStatus": "ringing",
        "SequenceNumber": "1",
        "Direction": "outbound-api",
        "From": caller_id,
        "To": "+15551230000",
    }
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(url, params, token),
    }
    return httpx.post(url, content=urlencode(params), headers=headers, timeout=30).status_code


def tenants_of(env: dict[str, str], sids: set[str]) -> dict[str, str]:
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{env['SWITCHBOARD_KAFKA_PORT']}")

    def found(records: list) -> bool:
        return {r.key.decode() for r in records if r.key} >= sids

    records = asyncio.run(read_records(kafka, CALL_EVENTS, {}, until=found, timeout_s=60))
    return {
        r.key.decode(): dict(r.headers).get("ce_tenant", b"").decode()
        for r in records
        if r.key and r.key.decode() in sids
    }


@pytest.mark.timeout(1800)  # installs and starts a whole stack twice on a shared box
def test_make_up_on_a_fresh_clone_then_with_a_users_bootstrap_file(fresh) -> None:
    clone, env = fresh
    done = make(clone, env, "up")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    lines = done.stdout.splitlines()
    assert len(lines) <= 25, done.stdout
    assert any(line.startswith("bootstrap bootstrap.yaml ...") for line in lines), done.stdout
    assert any(line.startswith("control ") for line in lines)  # its URL among the services'
    control = f"http://127.0.0.1:{env['SWITCHBOARD_CONTROL_PORT']}"
    assert httpx.get(control + "/ready", timeout=10).status_code == 200
    assert (clone / ".local/control/operator.key").read_text().startswith("sbk_")
    assert callback(env, LOCAL_ACCOUNT, LOCAL_TOKEN, "+15005550006", "CAlocal1") == 204
    assert callback(env, LOCAL_ACCOUNT, "not-the-local-token", "+15005550006", "CAx") == 403

    # The user's own file; its secret comes from the environment, as the file says.
    user = clone / "my-bootstrap.yaml"
    user.write_text(USER_FILE)
    env = {**env, "ACME_TWILIO_TOKEN": "acme-twilio-token-0001"}
    done = make(clone, env, "up", f"BOOTSTRAP={user}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert any(
        line.startswith("bootstrap my-bootstrap.yaml ...") for line in done.stdout.splitlines()
    )
    acme = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

    def accepted() -> bool:  # the running ingress takes the change live
        return callback(env, acme, "acme-twilio-token-0001", "+13105550100", "CAacme1") == 204

    deadline = time.monotonic() + 60
    while not accepted():
        assert time.monotonic() < deadline, "the user's account never took effect"
        time.sleep(1)
    assert tenants_of(env, {"CAlocal1", "CAacme1"}) == {"CAlocal1": "local", "CAacme1": "acme"}

    # SWITCHBOARD_BOOTSTRAP names the file too.
    dry = make(clone, {**env, "SWITCHBOARD_BOOTSTRAP": str(user)}, "-n", "up")
    assert f"scripts/local/bootstrap.sh {user}" in dry.stdout
