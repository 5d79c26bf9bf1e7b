"""The bootstrap file: a single-tenant install's tenants, provider accounts and channels in one
YAML (or JSON) document, applied idempotently by ``switchboard-control bootstrap <file>``.

It replaces the per-service env JSON of earlier releases (the ingress's
``SWITCHBOARD_TWILIO__ACCOUNTS`` / ``SWITCHBOARD_WHATSAPP__APPS`` / ``…VAPI__SOURCES`` /
``…ELEVENLABS__SOURCES``, the dialer's ``SWITCHBOARD_TWILIO__ACCOUNTS``, the history
reconciler's ``SWITCHBOARD_RECONCILE__*``): one shape, the entities of ``control.config``.

    version: 1
    models:   [{id, input_per_1k_usd, output_per_1k_usd}]   the models the platform offers
    tenants:  [{id, name, status?, limits?: {spend_per_day_usd, calls_per_second,
                concurrent_calls, allowed_models}}]
    accounts: [{provider: twilio|whatsapp|vapi|elevenlabs, id, tenants: [..], <secrets>, ...}]
    channels: [{kind: phone|whatsapp|vapi-phone|vapi-assistant|elevenlabs-agent, id, tenant,
                account_id, waba_id?, number?}]

Any string may name an environment variable, so the file itself holds no secret:
``${NAME}`` (must be set) or ``${NAME:-default}``. Applying twice changes nothing; entities
the file does not mention are left as they are (it never deletes).
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.common.config import Account, Channel, ModelPrice, Tenant
from switchboard.control.handlers import ControlPlane
from switchboard.control.models import validation_errors

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class BootstrapError(ValueError):
    """The file cannot be read or is not a valid bootstrap document (the message says where)."""


class BootstrapFile(BaseModel):
    """The document."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    models: list[ModelPrice] = Field(default_factory=list)
    tenants: list[Tenant] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)


def expand(value: Any, env: Mapping[str, str], where: str = "") -> Any:
    """``value`` with ``${NAME}`` / ``${NAME:-default}`` replaced in every string."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise BootstrapError(f"{where or 'the file'}: ${{{name}}} is not set")

        return _REFERENCE.sub(replace, value)
    if isinstance(value, list):
        return [expand(v, env, f"{where}.{i}") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    return value


def parse(text: str, env: Mapping[str, str], *, source: str = "bootstrap") -> BootstrapFile:
    """A bootstrap document from YAML or JSON text."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BootstrapError(f"{source}: not YAML or JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise BootstrapError(f"{source}: the document must be a mapping")
    try:
        return BootstrapFile.model_validate(expand(raw, env))
    except ValidationError as exc:
        problems = "; ".join(f"{e['key']}: {e['message']}" for e in validation_errors(exc))
        raise BootstrapError(f"{source}: {problems}") from exc


def load(path: Path, env: Mapping[str, str] | None = None) -> BootstrapFile:
    try:
        text = path.read_text()
    except OSError as exc:
        raise BootstrapError(f"{path}: {exc.strerror}") from exc
    return parse(text, os.environ if env is None else env, source=str(path))


@dataclass
class Applied:
    """What applying changed, per entity kind: ``{"tenant": [changed, unchanged], ...}``."""

    counts: dict[str, list[int]] = field(default_factory=dict)

    def count(self, kind: str, changed: bool) -> None:
        tally = self.counts.setdefault(kind, [0, 0])
        tally[0 if changed else 1] += 1

    @property
    def changed(self) -> int:
        return sum(c for c, _ in self.counts.values())

    def summary(self) -> str:
        parts = [f"{kind}s: {c} changed, {u} unchanged" for kind, (c, u) in self.counts.items()]
        return "; ".join(parts) or "nothing to apply"


async def apply(plane: ControlPlane, document: BootstrapFile) -> Applied:
    """Models, tenants, then accounts, then channels (operator rights: channels may move)."""
    applied = Applied()
    for model in document.models:
        applied.count("model", (await plane.put_model(model))[1])
    for tenant in document.tenants:
        applied.count("tenant", (await plane.put_tenant(tenant))[1])
    for account in document.accounts:
        applied.count("account", (await plane.put_account(account))[1])
    for channel in document.channels:
        applied.count("channel", (await plane.bind(None, channel))[1])
    return applied
