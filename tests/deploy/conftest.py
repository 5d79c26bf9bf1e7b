"""Fixtures of the offline deployment checks: the repository, the rendered manifests, settings.

No Docker engine or cluster needed: the manifests are rendered by the real ``kustomize build``
(a pinned Go module in .local/bin) and the policy checks run on its output.
"""

import copy
import functools
import importlib
import os
import pathlib
import re
import subprocess
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

ROOT = pathlib.Path(__file__).resolve().parents[2]
PREFIX = "SWITCHBOARD_"

# Image (or package) name → the pydantic settings class its processes read.
SETTINGS_CLASSES = {
    "switchboard-ingress": "switchboard.ingress.settings:IngressSettings",
    "switchboard-history": "switchboard.history.settings:HistorySettings",
    "switchboard-dialer": "switchboard.dialer.settings:DialerSettings",
    "switchboard-ai": "switchboard.ai.settings:AiSettings",
    "switchboard-control": "switchboard.control.settings:ControlSettings",
    "switchboard-provider-sim": "switchboard.providersim.settings:SimSettings",
    "switchboard-lag-exporter": "switchboard.lagexporter.settings:LagExporterSettings",
}

# Dockerfile path → workspace package it builds.
DOCKERFILES = {
    "services/ingress/Dockerfile": "switchboard-ingress",
    "services/history/Dockerfile": "switchboard-history",
    "services/dialer/Dockerfile": "switchboard-dialer",
    "services/ai/Dockerfile": "switchboard-ai",
    "services/control/Dockerfile": "switchboard-control",
    "tools/provider-sim/Dockerfile": "switchboard-provider-sim",
    "tools/lag-exporter/Dockerfile": "switchboard-lag-exporter",
}


def settings_class(package: str) -> type[BaseSettings]:
    module, _, name = SETTINGS_CLASSES[package].partition(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    return cls


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside ``annotation`` (``X``, ``X | None``), or None for leaves."""
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def setting_exists(cls: type[BaseModel], variable: str) -> bool:
    """Whether ``SWITCHBOARD_A__B`` names a field of ``cls`` (nested sections split on ``__``)."""
    if not variable.startswith(PREFIX):
        return False
    model: type[BaseModel] | None = cls
    parts = variable.removeprefix(PREFIX).lower().split("__")
    for index, part in enumerate(parts):
        if model is None:
            return False
        field = model.model_fields.get(part)
        if field is None:
            return False
        model = _model_of(field.annotation)
        if model is None:
            # A leaf (str, int, dict, list…): nothing may follow it.
            return index == len(parts) - 1
    return True


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def settings_of() -> Callable[[str], type[BaseSettings]]:
    return settings_class


@pytest.fixture(scope="session")
def has_setting() -> Callable[[type[BaseModel], str], bool]:
    return setting_exists


@pytest.fixture(scope="session")
def topics_table() -> dict[str, Any]:
    table: dict[str, Any] = yaml.safe_load((ROOT / "deploy/topics.yaml").read_text())
    return table


# --------------------------------------------------------------------------- kustomize

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
KUSTOMIZE_VERSION = "v5.7.1"
KUSTOMIZE = ROOT / ".local/bin/kustomize"


def kustomize() -> pathlib.Path:
    """The real kustomize (``make kustomize``: a Go module built into .local/bin, like vegeta);
    installed here the first time when missing, so ``make test`` on a fresh clone has it."""
    if not KUSTOMIZE.exists() or KUSTOMIZE_VERSION not in _version(KUSTOMIZE):
        subprocess.run(
            ["go", "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
            env={**os.environ, "GOBIN": str(KUSTOMIZE.parent)},
            check=True,
            capture_output=True,
            timeout=900,
        )
    return KUSTOMIZE


def _version(binary: pathlib.Path) -> str:
    done = subprocess.run([binary, "version"], capture_output=True, text=True, check=False)
    return done.stdout


def _containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    template = obj.get("spec", {}).get("template", {}).get("spec", {})
    yield from template.get("initContainers", [])
    yield from template.get("containers", [])


@functools.cache
def _build(directory: pathlib.Path) -> str:
    done = subprocess.run(
        [kustomize(), "build", str(directory)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"kustomize build {directory}: {done.stderr}"
    return done.stdout


def render(directory: pathlib.Path) -> list[dict[str, Any]]:
    """``kustomize build directory`` as objects (fresh copies: tests may change them)."""
    return [doc for doc in yaml.safe_load_all(_build(directory.resolve())) if doc]


@pytest.fixture(scope="session", params=["dev", "prod"])
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    name: str = request.param
    return name, render(ROOT / "k8s/overlays" / name)


@pytest.fixture(scope="session")
def kafka_manifests() -> list[dict[str, Any]]:
    """``k8s/kafka``: the three-node Kafka cluster and its topics Job."""
    return render(ROOT / "k8s/kafka")


@pytest.fixture(scope="session")
def containers_of() -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    return lambda obj: list(_containers(obj))


@pytest.fixture(scope="session")
def image_package() -> Callable[[str], str]:
    """``ghcr.io/x/switchboard-dialer:1.2`` → ``switchboard-dialer``."""
    return lambda image: re.sub(r"[:@].*$", "", image.rsplit("/", 1)[-1])


@pytest.fixture(scope="session")
def render_overlay() -> Callable[[str], list[dict[str, Any]]]:
    """Render ``k8s/overlays/<name>`` afresh (tests may change what they get)."""
    return lambda name: render(ROOT / "k8s/overlays" / name)


def _declared_metrics() -> dict[str, set[str]]:
    """Metric name → label names, read from the prometheus_client declarations in the sources."""
    sources = "\n".join(
        path.read_text()
        for folder in ("libs", "services", "tools")
        for path in (ROOT / folder).glob("*/src/**/*.py")
    )
    metrics: dict[str, set[str]] = {}
    pattern = r"(?:Counter|Gauge|Histogram|Summary)\(\s*\"(switchboard_\w+)\""
    for match in re.finditer(pattern, sources):
        # Up to the call's closing parenthesis (help texts may hold parentheses, not ")\n").
        call = re.split(r"\)\s*\n", sources[match.end() :])[0]
        declared = re.search(r"\[((?:\s*\"\w+\",?)+)\s*\]", call)
        labels = set(re.findall(r'"(\w+)"', declared.group(1))) if declared else set()
        metrics[match.group(1)] = labels
    return metrics


@pytest.fixture(scope="session")
def declared_metrics() -> dict[str, set[str]]:
    return _declared_metrics()


def _series_labels(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric, labels a PromQL expression groups by or matches on) for every switchboard series."""
    grouped = {
        label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")
    }
    for metric, matchers in re.findall(
        r"\b(switchboard_\w+?)(?:_bucket|_count|_sum)?\b({[^}]*})?", expr
    ):
        yield metric, grouped | set(re.findall(r"(\w+)\s*=~?", matchers))


@pytest.fixture(scope="session")
def promql_series() -> Callable[[str], list[tuple[str, set[str]]]]:
    return lambda expr: list(_series_labels(expr))


# --------------------------------------------------------------------------- CRD schemas


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Unknown fields fail, as kube-apiserver's field validation does with ``Strict``."""
    schema = copy.deepcopy(schema)
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return schema


@pytest.fixture(scope="session")
def strict_schema() -> Callable[[dict[str, Any]], dict[str, Any]]:
    return strict
