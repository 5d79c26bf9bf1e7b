"""Every image is built alike: pinned bases, dependencies first, non-root, health-checked.

Read without a Docker engine: the Dockerfiles are parsed into (instruction, argument) pairs.
"""

import importlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import tomllib

import pytest

DOCKERFILES = {
    "services/ingress/Dockerfile": "switchboard-ingress",
    "services/history/Dockerfile": "switchboard-history",
    "services/dialer/Dockerfile": "switchboard-dialer",
    "services/ai/Dockerfile": "switchboard-ai",
    "services/control/Dockerfile": "switchboard-control",
    "tools/provider-sim/Dockerfile": "switchboard-provider-sim",
    "tools/lag-exporter/Dockerfile": "switchboard-lag-exporter",
}
BASE = "python:3.11-slim-bookworm"
CLI_MODULES = {
    "switchboard-ingress": "switchboard.ingress.__main__",
    "switchboard-history": "switchboard.history.__main__",
    "switchboard-dialer": "switchboard.dialer.__main__",
    "switchboard-ai": "switchboard.ai.__main__",
    "switchboard-control": "switchboard.control.__main__",
    "switchboard-provider-sim": "switchboard.providersim.__main__",
    "switchboard-lag-exporter": "switchboard.lagexporter.__main__",
}


def instructions(path: pathlib.Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, argument) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, argument = stripped.partition(" ")
        out.append((keyword.upper(), " ".join(argument.split())))
    return out


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


@pytest.fixture(params=sorted(DOCKERFILES))
def dockerfile(request, repo) -> tuple[str, str, list[tuple[str, str]]]:
    path: str = request.param
    return path, DOCKERFILES[path], instructions(repo / path)


def test_every_base_image_is_pinned_python_slim(dockerfile):
    _, _, steps = dockerfile
    bases = [argument.split()[0] for keyword, argument in steps if keyword == "FROM"]
    assert len(bases) == 2, "a build stage and a final stage"
    assert all(base == BASE for base in bases)


def test_uv_is_copied_from_the_pinned_image_of_scripts_uv_sh(dockerfile, repo):
    _, _, steps = dockerfile
    pinned = re.search(r'UV_VERSION="([^"]+)"', (repo / "scripts/uv.sh").read_text())
    assert pinned
    uv_copies = [a for k, a in steps if k == "COPY" and "astral-sh/uv" in a]
    assert uv_copies == [f"--from=ghcr.io/astral-sh/uv:{pinned.group(1)} /uv /usr/local/bin/uv"]


def test_dependency_layer_comes_before_the_sources(dockerfile):
    path, package, steps = dockerfile
    syncs = [i for i, (k, a) in enumerate(steps) if k == "RUN" and "uv sync" in a]
    assert len(syncs) == 2
    deps, full = syncs
    assert "--frozen" in steps[deps][1]
    assert f"--no-install-workspace --package {package}" in steps[deps][1]
    assert f"--package {package}" in steps[full][1] and "--frozen" in steps[full][1]
    copies_before = [a for k, a in steps[:deps] if k == "COPY" and "--from" not in a]
    assert copies_before, "the lock and manifests are copied first"
    for argument in copies_before:
        sources = argument.split()[:-1]
        assert all(s.endswith(("pyproject.toml", "uv.lock")) for s in sources), argument
    copies_between = [a.split()[0] for k, a in steps[deps:full] if k == "COPY"]
    assert copies_between == ["libs/common", str(pathlib.Path(path).parent)]


def test_every_workspace_member_manifest_is_copied_for_the_lock(dockerfile, repo):
    _, _, steps = dockerfile
    workspace = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    copied = {a.split()[0] for k, a in steps if k == "COPY"}
    for member in workspace["members"]:
        assert f"{member}/pyproject.toml" in copied


def test_final_stage_holds_only_the_venv_and_sources(dockerfile):
    path, _, steps = dockerfile
    copies = [a for k, a in final_stage(steps) if k == "COPY"]
    sources = sorted(a.split()[1] for a in copies)
    assert all(a.startswith("--from=build ") for a in copies)
    service_src = f"/app/{pathlib.Path(path).parent}/src"
    assert sources == sorted(["/app/.venv", "/app/libs/common/src", service_src])


def test_runs_as_a_non_root_user(dockerfile):
    _, _, steps = dockerfile
    users = [a for k, a in final_stage(steps) if k == "USER"]
    assert users, "USER is set in the final stage"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert int(user) >= 10000, "a uid outside the host's usual range"


def test_healthcheck_probes_health_with_python_not_curl(dockerfile):
    _, _, steps = dockerfile
    checks = [a for k, a in final_stage(steps) if k == "HEALTHCHECK"]
    assert len(checks) == 1
    check = checks[0]
    assert "/health" in check and "urllib.request" in check
    assert "curl" not in check and "wget" not in check
    exec_form = json.loads(check.split("CMD ", 1)[1])
    assert exec_form[:2] == ["python", "-c"]
    compile(exec_form[2], "<healthcheck>", "exec")


def test_entrypoint_is_the_service_cli_and_cmd_one_of_its_commands(dockerfile, repo):
    path, package, steps = dockerfile
    stage = final_stage(steps)
    entrypoint = json.loads(next(a for k, a in stage if k == "ENTRYPOINT"))
    member = tomllib.loads((repo / pathlib.Path(path).parent / "pyproject.toml").read_text())
    assert entrypoint == [package]
    assert package in member["project"]["scripts"]
    command = json.loads(next(a for k, a in stage if k == "CMD"))
    cli = importlib.import_module(CLI_MODULES[package]).cli
    names = {c.name or c.callback.__name__.replace("_", "-") for c in cli.registered_commands}
    assert command[0] in names


def test_switchboard_env_defaults_are_real_settings(dockerfile, settings_of, has_setting):
    _, package, steps = dockerfile
    env = " ".join(a for k, a in final_stage(steps) if k == "ENV")
    variables = re.findall(r"(SWITCHBOARD_[A-Z0-9_]+)=", env)
    assert variables
    cls = settings_of(package)
    assert [v for v in variables if not has_setting(cls, v)] == []


def test_ingress_spool_is_a_volume_owned_by_the_service_user(repo):
    stage = final_stage(instructions(repo / "services/ingress/Dockerfile"))
    spool = "/var/lib/switchboard/spool"
    assert any(k == "VOLUME" and spool in a for k, a in stage)
    assert any(k == "RUN" and f"chown 10001:10001 {spool}" in a for k, a in stage)
    assert any(k == "ENV" and f"SWITCHBOARD_SPOOL__DIRECTORY={spool}" in a for k, a in stage)


def test_dockerignore_keeps_local_state_out_of_the_context(repo):
    patterns = {
        line.strip()
        for line in (repo / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"**/.venv", "**/.local", "**/.git", "**/tests", "**/.env"} <= patterns
    assert "uv.lock" not in patterns and "**/pyproject.toml" not in patterns


def _copy_into(repo: pathlib.Path, context: pathlib.Path, argument: str) -> None:
    """A build-context COPY: every source but the last word goes to the destination."""
    *sources, destination = argument.split()
    for source in sources:
        origin = repo / source
        target = context / destination
        if origin.is_dir():
            shutil.copytree(
                origin,
                target,
                ignore=shutil.ignore_patterns("__pycache__", "tests", "bench", ".*"),
                dirs_exist_ok=True,  # COPY merges a directory into what is there
            )
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / origin.name)


def test_build_stage_steps_work_offline_and_the_final_copies_suffice(dockerfile, repo, tmp_path):
    """Replays the build stage's COPY and ``uv sync`` steps with the pinned uv, offline.

    The dependency step must install no workspace member; the full step must give a CLI that
    runs; and the editable installs must point only into the source trees the final stage copies.
    """
    _, package, steps = dockerfile
    context = tmp_path / "app"
    context.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "UV_OFFLINE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_PROJECT_ENVIRONMENT": str(context / ".venv"),
        **{k: v for k, v in os.environ.items() if k in {"UV_CACHE_DIR", "XDG_CACHE_HOME"}},
    }
    site = None
    build = steps[: max(i for i, (k, _) in enumerate(steps) if k == "FROM")]
    syncs = 0
    for keyword, argument in build:
        if keyword == "COPY" and not argument.startswith("--from"):
            _copy_into(repo, context, argument)
        elif keyword == "RUN" and "uv sync" in argument:
            command = argument[argument.index("uv sync") :].split()[1:]
            subprocess.run(
                ["bash", str(repo / "scripts/uv.sh"), *command, "--quiet"],
                cwd=context,
                env=env,
                check=True,
                capture_output=True,
            )
            syncs += 1
            site = next((context / ".venv/lib").glob("python3*/site-packages"))
            if syncs == 1:
                assert list(site.glob("switchboard_*")) == [], "dependencies only"
    assert syncs == 2 and site is not None
    final_sources = {
        str(context / a.split()[1].removeprefix("/app/"))
        for k, a in final_stage(steps)
        if k == "COPY" and a.split()[1].endswith("/src")
    }
    pointed = {
        line.strip()
        for pth in site.glob("*.pth")
        for line in pth.read_text().splitlines()
        if line.strip().startswith("/")
    }
    assert pointed == final_sources
    command = json.loads(next(a for k, a in final_stage(steps) if k == "CMD"))
    result = subprocess.run(
        [str(context / ".venv/bin" / package), "--help"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert command[0] in result.stdout
