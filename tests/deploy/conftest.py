"""Fixtures of the offline deployment checks: the repository, a tiny kustomize renderer, settings.

No Docker engine or cluster needed: the manifests are rendered by :func:`render` below, which
supports exactly the kustomize features ``k8s/`` uses (resources, namespace, labels without
selectors, images, strategic-merge patches of maps with lists merged by ``name``, configMapGenerator
from files without name hashes). Where kubectl is installed, ``test_observability`` checks that
``kubectl kustomize`` renders the same objects.
"""

import copy
import importlib
import pathlib
import re
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


# --------------------------------------------------------------------------- kustomize (subset)


def _load_all(path: pathlib.Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge of simple maps.

    Maps merge key by key, lists of named maps merge by ``name``, anything else is replaced.
    """
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in base + patch)
    ):
        by_name = {item["name"]: item for item in base}
        out = [
            _merge(by_name[item["name"]], item) if item["name"] in by_name else item
            for item in patch
        ]
        patched = {item["name"] for item in patch}
        return [item for item in base if item["name"] not in patched] + out
    return copy.deepcopy(patch)


def _add_labels(obj: dict[str, Any], entry: dict[str, Any]) -> None:
    """One ``labels:`` entry: on the object's metadata, on pod templates when
    ``includeTemplates``; selectors are never touched (``includeSelectors: false``)."""
    assert entry.get("includeSelectors") is False, "the test renderer keeps selectors as written"
    pairs = entry["pairs"]
    obj.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
    template = obj.get("spec", {}).get("template")
    if entry.get("includeTemplates") and obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
        template.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            claim.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def _containers(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    template = obj.get("spec", {}).get("template", {}).get("spec", {})
    yield from template.get("initContainers", [])
    yield from template.get("containers", [])


_SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "patches",
    "configMapGenerator",
    "generatorOptions",
}


def _generate_config_maps(
    directory: pathlib.Path, kustomization: dict[str, Any]
) -> list[dict[str, Any]]:
    """``configMapGenerator`` entries with ``files`` (``path`` or ``key=path``), no name hash."""
    options = kustomization.get("generatorOptions", {})
    generators = kustomization.get("configMapGenerator", [])
    assert not generators or options.get("disableNameSuffixHash") is True, (
        f"{directory}: the test renderer makes no name hashes; set disableNameSuffixHash"
    )
    maps = []
    for generator in generators:
        unsupported = set(generator) - {"name", "files", "options"}
        assert not unsupported, f"{directory}: configMapGenerator {unsupported} not supported"
        data = {}
        for entry in generator["files"]:
            key, _, path = entry.rpartition("=")
            data[key or pathlib.Path(path).name] = (directory / path).read_text()
        metadata: dict[str, Any] = {"name": generator["name"]}
        merged = {**options, **generator.get("options", {})}
        for field in ("labels", "annotations"):
            if merged.get(field):
                metadata[field] = dict(merged[field])
        maps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return maps


def _apply_patches(directory: pathlib.Path, kustomization: dict[str, Any], objects: list) -> None:
    for entry in kustomization.get("patches", []):
        for patch in _load_all(directory / entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            found = [i for i, o in enumerate(objects) if (o["kind"], o["metadata"]["name"]) == key]
            assert len(found) == 1, f"patch {key} matches {len(found)} objects"
            objects[found[0]] = _merge(objects[found[0]], patch)


def _set_images(kustomization: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                name = container["image"].partition(":")[0]
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


def render(directory: pathlib.Path) -> list[dict[str, Any]]:
    """Render ``directory``'s kustomization.yaml (the subset of kustomize that k8s/ uses)."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - _SUPPORTED
    assert not unsupported, f"{directory}: the test renderer does not support {unsupported}"
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        objects += render(path) if path.is_dir() else _load_all(path)
    objects += _generate_config_maps(directory, kustomization)
    _apply_patches(directory, kustomization, objects)
    for obj in objects:
        for entry in kustomization.get("labels", []):
            _add_labels(obj, entry)
        # Like kustomize: a Namespace is cluster-scoped and keeps no namespace of its own.
        if (namespace := kustomization.get("namespace")) and obj["kind"] != "Namespace":
            obj["metadata"]["namespace"] = namespace
    _set_images(kustomization, objects)
    return objects


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
