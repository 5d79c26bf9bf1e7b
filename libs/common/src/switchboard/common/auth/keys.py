"""Refuse the repository's example keys, and weak symmetric keys, outside ``local``.

Everyone has the keys printed in this repository (the local env files, the compose and k8s
examples): outside ``environment=local`` a service refuses to start with any of them in any
setting (:func:`refuse_example_keys`, run by every app factory through
``common.cli.configure_process``), naming the setting. A symmetric key that signs or
authenticates must also be at least 32 bytes (:func:`check_symmetric_key`). ``tests`` keeps
:data:`EXAMPLE_KEYS` in step with the example files.
"""

from collections.abc import Iterator, Mapping
from typing import Final

from pydantic import BaseModel, SecretStr

from switchboard.common.auth.principal import AuthNotConfiguredError

MIN_SYMMETRIC_KEY_BYTES: Final = 32
LOCAL_ENVIRONMENT: Final = "local"
ENV_PREFIX: Final = "SWITCHBOARD_"

EXAMPLE_KEYS: Final = frozenset(
    {
        # the shared HS256 keys of earlier releases (no API takes one any more)
        "local-dev-jwt-key-change-me-0123456789abcdef",  # scripts/local, k8s dev
        "change-me-jwt-key-0123456789abcdef0123",  # compose/.env.example
        "change-me-at-least-32-bytes-long-secret",  # services/ai/README.md
        "dev-secret",  # services/history/README.md
        # key rings {"id": "base64"}
        "uqwbPlBvvsdiJghhW2fcVaCEKut+zS5x1GC4gWu1yPY=",  # scripts/local/common.env CONFIG
        "vEpzChwoAP/snpEw4oeReoWVvphtzHoMu2HwtNwgCUE=",  # scripts/local/control.env CRYPTO
        "QdoJaGjUMfwMggz4CCZv5jCJr6qpT/Gza+SRx1o5SNs=",  # scripts/local/ai*.env, compose ai
        "CSI092l8Sll/fXPzvHCihwGsEMzEm8FLRl8Kx771AQU=",  # compose control CRYPTO
        "lwUeKQdCOKoJSWjaU5VL5ULy9rCvO6bnWXUVnkFSJ/k=",  # compose CONFIG
    }
)
"""Every key the repository's examples print (a test greps for them)."""


def _reason(environment: str) -> str:
    return (
        f"set a random key of at least {MIN_SYMMETRIC_KEY_BYTES} bytes "
        f"(environment {environment!r} is not {LOCAL_ENVIRONMENT!r})"
    )


def check_symmetric_key(key: str, *, setting: str, environment: str) -> None:
    """AuthNotConfiguredError naming ``setting`` when ``key`` must not sign tokens here."""
    if environment == LOCAL_ENVIRONMENT:
        return
    if key in EXAMPLE_KEYS:
        raise AuthNotConfiguredError(
            f"{setting} is an example key from the Switchboard repository; {_reason(environment)}"
        )
    if len(key.encode()) < MIN_SYMMETRIC_KEY_BYTES:
        raise AuthNotConfiguredError(
            f"{setting} is shorter than {MIN_SYMMETRIC_KEY_BYTES} bytes; {_reason(environment)}"
        )


def _values(value: object, setting: str) -> Iterator[tuple[str, str]]:
    """(setting, string) for every string held by ``value``, through models, maps and lists."""
    if isinstance(value, SecretStr):
        yield setting, value.get_secret_value()
    elif isinstance(value, str):
        yield setting, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _values(getattr(value, name), f"{setting}__{name.upper()}")
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _values(item, setting)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _values(item, setting)


def refuse_example_keys(settings: BaseModel, *, environment: str) -> None:
    """AuthNotConfiguredError naming the first setting that holds one of the repository's
    example keys, unless ``environment`` is ``local``."""
    if environment == LOCAL_ENVIRONMENT:
        return
    for name in type(settings).model_fields:
        for setting, text in _values(getattr(settings, name), f"{ENV_PREFIX}{name.upper()}"):
            if text in EXAMPLE_KEYS:
                raise AuthNotConfiguredError(
                    f"{setting} holds an example key from the Switchboard repository; "
                    f"{_reason(environment)}"
                )
