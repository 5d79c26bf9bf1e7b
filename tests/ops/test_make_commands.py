"""The README's commands print what they say: `make token` only a token, `make up` a line a step."""

import os
import subprocess
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[2]


def test_make_token_prints_only_the_token() -> None:
    done = subprocess.run(
        ["make", "token", "TENANT=acme"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    claims = jwt.decode(lines[0], options={"verify_signature": False})
    assert claims["tenant"] == "acme"
    assert claims["exp"] - claims["iat"] == 3600  # the lifetime the README states


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
