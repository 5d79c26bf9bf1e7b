"""Ingress test fixtures: settings with a known Twilio account and an in-memory publisher."""

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from switchboard.common.errors import PublishError
from switchboard.common.testing import twilio_signature
from switchboard.ingress.app import create_app
from switchboard.ingress.events import Outgoing
from switchboard.ingress.settings import (
    HttpSettings,
    IngressSettings,
    TwilioAccount,
    TwilioSettings,
)

ACCOUNT = "AC00000000000000000000000000000001"
TOKEN = "token-current"
OLD_TOKEN = "token-previous"
BASE = "https://hooks.example.test"


class InMemoryPublisher:
    """Records what would have been published; ``fail`` makes the broker look down."""

    def __init__(self) -> None:
        self.published: list[Outgoing] = []
        self.fail = False

    async def publish(self, outgoing: Outgoing) -> None:
        if self.fail:
            raise PublishError("broker down (fake)")
        self.published.append(outgoing)

    async def is_ready(self) -> bool:
        return not self.fail


def ingress_settings(**overrides: object) -> IngressSettings:
    return IngressSettings(
        http=HttpSettings(public_base_url=BASE),  # type: ignore[arg-type]
        twilio=TwilioSettings(
            accounts={
                ACCOUNT: TwilioAccount(
                    auth_tokens=[SecretStr(TOKEN), SecretStr(OLD_TOKEN)], tenant="acme"
                )
            }
        ),
        **overrides,  # type: ignore[arg-type]
    )


def status_params(**overrides: str) -> dict[str, str]:
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": "CA0123456789abcdef0123456789abcdef",
        "CallStatus": "completed",
        "CallDuration": "42",
        "SequenceNumber": "3",
        "Direction": "outbound-api",
        "From": "+15005550006",
        "To": "+14155550100",
        "Timestamp": "Mon, 23 Nov 2026 13:00:00 +0000",
        "CallbackSource": "call-progress-events",
    }
    params.update(overrides)
    return params


def signed_form(
    path: str, params: dict[str, str], token: str = TOKEN, base: str = BASE
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a Twilio-signed form POST to ``base + path``."""
    return urlencode(params).encode(), {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(base + path, params, token),
    }


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def client(publisher: InMemoryPublisher) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(ingress_settings(), publisher=publisher)) as c:
        yield c


class Twilio:
    """What a test needs to play Twilio against the ingress."""

    account = ACCOUNT
    token = TOKEN
    old_token = OLD_TOKEN
    base = BASE
    status_params = staticmethod(status_params)
    signed_form = staticmethod(signed_form)


@pytest.fixture
def twilio() -> type[Twilio]:
    return Twilio
