"""Refuse weak symmetric token keys outside the local environment.

An HS256 key is a password for forging any tenant's token: outside ``environment=local`` a
service refuses to start with one shorter than 32 bytes or one printed in this repository's
examples (everyone has those). ``tests`` keeps this list in step with the example files.
"""

from typing import Final

from switchboard.common.auth.principal import AuthNotConfiguredError

MIN_SYMMETRIC_KEY_BYTES: Final = 32
LOCAL_ENVIRONMENT: Final = "local"

EXAMPLE_KEYS: Final = frozenset(
    {
        "local-dev-jwt-key-change-me-0123456789abcdef",  # scripts/local/common.env, k8s dev
        "change-me-jwt-key-0123456789abcdef0123",  # compose/.env.example of earlier releases
        "change-me-at-least-32-bytes-long-secret",  # services/ai/README.md
        "dev-secret",  # services/history/README.md
    }
)
"""Every symmetric key the repository's examples print (a test greps for them)."""


def check_symmetric_key(key: str, *, setting: str, environment: str) -> None:
    """AuthNotConfiguredError naming ``setting`` when ``key`` must not sign tokens here."""
    if environment == LOCAL_ENVIRONMENT:
        return
    if key in EXAMPLE_KEYS:
        raise AuthNotConfiguredError(
            f"{setting} is an example key from the Switchboard repository; "
            f"set a random key of at least {MIN_SYMMETRIC_KEY_BYTES} bytes "
            f"(environment {environment!r} is not 'local')"
        )
    if len(key.encode()) < MIN_SYMMETRIC_KEY_BYTES:
        raise AuthNotConfiguredError(
            f"{setting} is shorter than {MIN_SYMMETRIC_KEY_BYTES} bytes; "
            f"set a random key of at least {MIN_SYMMETRIC_KEY_BYTES} bytes "
            f"(environment {environment!r} is not 'local')"
        )
