"""The project's pytest configuration turns a warning raised from our own modules into an error
(Litestar 3 readiness), while a library's warning stays a warning and the twilio SDK's aiohttp
deprecations are ignored by message. Run as a separate pytest on a throwaway test file with the
repository's own configuration."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CASES = """
import warnings

def _warn(message: str, module: str, category: type[Warning] = DeprecationWarning) -> None:
    warnings.warn_explicit(message, category, module.replace(".", "/") + ".py", 1, module=module)

def test_ours() -> None:
    _warn("old parameter kind", "switchboard.dialer.api")

def test_simulator() -> None:
    _warn("old parameter kind", "providersim.app")

def test_library() -> None:
    _warn("deprecated in a library", "litestar.app")

def test_lookalike() -> None:
    _warn("a package merely named like ours", "switchboardish.x")

def test_twilio_sdk() -> None:
    _warn("BasicAuth is deprecated", "switchboard.dialer.adapters.twilio")
"""


def run_cases(tmp_path: Path) -> str:
    (tmp_path / "test_cases.py").write_text(textwrap.dedent(CASES))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-rA",
            str(tmp_path / "test_cases.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_cases(tmp_path_factory.mktemp("warnings"))


def test_a_warning_from_our_code_fails_the_test(outcome: str) -> None:
    assert "FAILED test_cases.py::test_ours" in outcome
    assert "FAILED test_cases.py::test_simulator" in outcome


def test_a_library_warning_is_only_reported(outcome: str) -> None:
    assert "PASSED test_cases.py::test_library" in outcome
    assert "PASSED test_cases.py::test_lookalike" in outcome
    assert "deprecated in a library" in outcome


def test_the_twilio_sdk_aiohttp_deprecation_is_ignored(outcome: str) -> None:
    assert "PASSED test_cases.py::test_twilio_sdk" in outcome
    assert "BasicAuth is deprecated" not in outcome
