"""The README's commands print what they say: `make token` only a token, `make up` a line a step."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest

from switchboard.common.crypto import new_key
from switchboard.common.migrations import drop_database
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import config_env, config_settings, unique

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_make_token_prints_only_a_token_from_the_control_plane(
    start_service, tmp_path: Path, pg_settings: PostgresSettings
) -> None:
    control_env = {
        "SWITCHBOARD_DATABASE": unique("control_make_token"),
        "SWITCHBOARD_CRYPTO__KEYS": json.dumps({"r1": new_key()}),
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "r1",
        **config_env(config_settings()),
    }
    control = start_service("control", ["switchboard.control", "api"], control_env)
    try:
        control.wait_ready()
        # What `make up` keeps: the operator key in <local dir>/control/operator.key.
        (tmp_path / "control").mkdir()
        operator_key = subprocess.run(
            [sys.executable, "-m", "switchboard.control", "create-operator-key"],
            env={**os.environ, **control_env},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (tmp_path / "control" / "operator.key").write_text(operator_key + "\n")
        operator = httpx.post(
            control.url + "/v1/tokens",
            json={"audience": "control"},
            headers={"authorization": f"Bearer {operator_key}"},
        ).json()["access_token"]
        created = httpx.post(
            control.url + "/v1/admin/tenants",
            json={"id": "acme", "name": "Acme"},
            headers={"authorization": f"Bearer {operator}"},
        )
        assert created.status_code == 201, created.text
        env = {
            **os.environ,
            "SWITCHBOARD_LOCAL_DIR": str(tmp_path),
            "SWITCHBOARD_CONTROL_PORT": str(control.port),
        }
        for audience in ("dialer", "history"):
            done = subprocess.run(
                ["make", "token", "TENANT=acme", f"AUDIENCE={audience}"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=True,
            )
            lines = done.stdout.splitlines()
            assert len(lines) == 1, done.stdout
            claims = jwt.decode(lines[0], options={"verify_signature": False})
            assert (claims["tenant"], claims["aud"]) == ("acme", audience)
            assert claims["exp"] - claims["iat"] == 900  # the lifetime the README states
        # one tenant key, made once and kept beside the operator key
        assert (tmp_path / "control" / "tenant-acme.key").read_text().startswith("sbk_")
    finally:
        control.stop()
        drop_database(pg_settings, control_env["SWITCHBOARD_DATABASE"])


def run_step(tmp_path: Path, *cmd: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWITCHBOARD_LOCAL_DIR": str(tmp_path), "V": "1" if verbose else "0"}
    return subprocess.run(
        ["bash", str(ROOT / "scripts/step.sh"), "a step", *cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_step_prints_one_line_and_keeps_its_output_in_the_log(tmp_path: Path) -> None:
    done = run_step(tmp_path, "bash", "-c", "echo noisy; echo noisier >&2")
    assert done.returncode == 0
    assert done.stdout.splitlines() == [done.stdout.strip()]
    assert done.stdout.startswith("a step ...") and "ok (" in done.stdout
    log = (tmp_path / "steps.log").read_text()
    assert "noisy" in log and "noisier" in log


def test_a_failing_step_shows_its_output_and_fails(tmp_path: Path) -> None:
    done = run_step(tmp_path, "bash", "-c", "echo why it broke; exit 3")
    assert done.returncode == 3
    assert "FAILED (exit 3)" in done.stdout
    assert "why it broke" in done.stdout


def test_v1_shows_everything(tmp_path: Path) -> None:
    done = run_step(tmp_path, "bash", "-c", "echo line one; echo line two", verbose=True)
    assert done.stdout.splitlines() == ["line one", "line two"]


def test_make_demo_talks_to_the_services_on_this_checkouts_ports() -> None:
    """Before: the demo sent its callbacks to :8000 and called the AI and dialer APIs on :8006
    and :8002 whatever ports `make up` had started the services on (another checkout's)."""
    ports = {
        "SWITCHBOARD_SIM_PORT": "18910",
        "SWITCHBOARD_CONTROL_PORT": "18907",
        "SWITCHBOARD_INGRESS_PORT": "18900",
        "SWITCHBOARD_AI_API_PORT": "18906",
        "SWITCHBOARD_DIALER_API_PORT": "18902",
    }
    done = subprocess.run(
        ["make", "-n", "demo"],
        cwd=ROOT,
        env={**os.environ, **ports},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = done.stdout.replace("\\\n", " ").splitlines()  # the recipe's continued lines
    [command] = [line for line in lines if "provider-sim demo" in line]
    expanded = subprocess.run(
        ["bash", "-c", f"echo {command.split('switchboard-provider-sim demo', 1)[1]}"],
        env={**os.environ, **ports},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for option, port in [
        ("--sim-url", "18910"),
        ("--control-url", "18907"),
        ("--ingress-url", "18900"),
        ("--ai-url", "18906"),
        ("--dialer-url", "18902"),
    ]:
        assert expanded[expanded.index(option) + 1] == f"http://127.0.0.1:{port}", option
