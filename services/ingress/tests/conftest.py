"""Ingress test fixtures: settings with one source per provider, a fake Kafka side, signers."""

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from litestar.testing import TestClient
from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    ElevenLabsAccount,
    Entity,
    InMemoryConfig,
    TwilioAccount,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.common.errors import PublishError, RecordRefused
from switchboard.common.events import Event, KafkaRecord, decode
from switchboard.common.kafka import SendOutcome
from switchboard.common.settings import EdgeSettings
from switchboard.common.testing import twilio_signature
from switchboard.ingress.app import create_app
from switchboard.ingress.settings import HttpSettings, IngressSettings, SpoolSettings

SAMPLES = Path(__file__).parent / "samples"
ACCOUNT = "AC00000000000000000000000000000001"
TOKEN = "token-current-0001"
OLD_TOKEN = "token-previous-0001"
BASE = "https://hooks.example.test"
WA_APP = "meta-app-1"
WA_SECRET = "meta-app-secret-0001"
WA_VERIFY = "verify-me-please-0001"
WABA = "102290129340398"  # the sample's entry[].id
PHONE_NUMBER_ID = "106540352242922"  # the sample's metadata.phone_number_id
VAPI_ORG = "vapi-org-1"
VAPI_SECRET = "vapi-secret-0001-x"
VAPI_ASSISTANT = "asst-42"  # the sample's call.assistantId
EL_WORKSPACE = "el-workspace-1"
EL_SECRET = "wsec_elevenlabs_0001"
EL_AGENT = "xyz"  # the sample's data.agent_id
OUR_NUMBER = "+15005550006"  # the caller ID of call_status (outbound: From)
INBOUND_NUMBER = "+14155550100"  # the number customers write and call


def entities() -> list[Entity]:
    """One account per provider and the channels the samples and signers use."""
    return [
        TwilioAccount(
            id=ACCOUNT, tenants=("acme",), auth_tokens=(SecretStr(TOKEN), SecretStr(OLD_TOKEN))
        ),
        Channel(kind="phone", id=OUR_NUMBER, tenant="acme", account_id=ACCOUNT),
        Channel(kind="phone", id=INBOUND_NUMBER, tenant="acme", account_id=ACCOUNT),
        WhatsAppAccount(
            id=WA_APP,
            tenants=("acme-wa",),
            app_secrets=(SecretStr("old-app-secret-0001"), SecretStr(WA_SECRET)),
            verify_tokens=(SecretStr(WA_VERIFY),),
            waba_ids=(WABA,),
        ),
        Channel(
            kind="whatsapp", id=PHONE_NUMBER_ID, tenant="acme-wa", account_id=WA_APP, waba_id=WABA
        ),
        VapiAccount(id=VAPI_ORG, tenants=("acme-vapi",), webhook_secrets=(SecretStr(VAPI_SECRET),)),
        Channel(kind="vapi-assistant", id=VAPI_ASSISTANT, tenant="acme-vapi", account_id=VAPI_ORG),
        ElevenLabsAccount(
            id=EL_WORKSPACE, tenants=("acme-el",), webhook_secrets=(SecretStr(EL_SECRET),)
        ),
        Channel(kind="elevenlabs-agent", id=EL_AGENT, tenant="acme-el", account_id=EL_WORKSPACE),
    ]


def make_config() -> InMemoryConfig:
    return InMemoryConfig(entities())


class FakeKafka:
    """The Kafka side of delivery: records what was acked; ``down`` makes it refuse (not
    connected), ``failing`` makes publishes fail (a broker gone or slower than the deadline).
    Per record (``publish_each``): keys in ``refused`` are refused for what they are (and so
    is every record sent with them, as a broker fails a whole batch of a partition), keys in
    ``flaky`` fail as if their partition had no leader."""

    def __init__(self) -> None:
        self.published: list[tuple[str, KafkaRecord]] = []
        self.down = False
        self.failing = False
        self.refused: set[bytes] = set()
        self.flaky: set[bytes] = set()
        self.sends: list[list[bytes | None]] = []
        """Keys of each ``publish_each`` call, in order."""

    @property
    def connected(self) -> bool:
        return not self.down

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None:
        if self.down or self.failing:
            raise PublishError("broker down (fake)")
        self.published.extend(records)

    async def publish_each(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> list[SendOutcome]:
        self.sends.append([r.key for _, r in records])
        if self.down or self.failing:
            return [PublishError("broker down (fake)")] * len(records)
        if any(r.key in self.refused for _, r in records):
            return [RecordRefused("refused: too large (fake)")] * len(records)
        outcomes: list[SendOutcome] = []
        for topic, record in records:
            if record.key in self.flaky:
                outcomes.append(PublishError("no leader (fake)"))
            else:
                self.published.append((topic, record))
                outcomes.append(None)
        return outcomes

    def events(self) -> list[tuple[str, bytes | None, Event]]:
        return [(t, r.key, decode(r.headers, r.value)) for t, r in self.published]


def make_settings(
    tmp_path: Path, *, trusted_proxies: list[str] | None = None, **http: Any
) -> IngressSettings:
    return IngressSettings(
        http=HttpSettings(public_base_url=BASE, **http),  # type: ignore[arg-type]
        edge=EdgeSettings(trusted_proxies=trusted_proxies or []),  # type: ignore[arg-type]
        spool=SpoolSettings(directory=tmp_path / "spool", drain_retry_s=0.05),
    )


class Sign:
    """Sign requests the way each provider does."""

    account = ACCOUNT
    token = TOKEN
    old_token = OLD_TOKEN
    base = BASE
    wa_verify = WA_VERIFY
    wa_secret = WA_SECRET
    waba = WABA
    phone_number_id = PHONE_NUMBER_ID
    our_number = OUR_NUMBER
    inbound_number = INBOUND_NUMBER
    vapi_secret = VAPI_SECRET
    el_secret = EL_SECRET

    @staticmethod
    def twilio(
        path: str, params: dict[str, str], token: str = TOKEN, base: str = BASE
    ) -> tuple[bytes, dict[str, str]]:
        return urlencode(params).encode(), {
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": twilio_signature(base + path, params, token),
        }

    @staticmethod
    def whatsapp(payload: Any, secret: str = WA_SECRET) -> tuple[bytes, dict[str, str]]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return body, {"content-type": "application/json", "x-hub-signature-256": f"sha256={digest}"}

    @staticmethod
    def vapi(payload: Any, secret: str = VAPI_SECRET) -> tuple[bytes, dict[str, str]]:
        return json.dumps(payload).encode(), {
            "content-type": "application/json",
            "x-vapi-secret": secret,
        }

    @staticmethod
    def elevenlabs(
        payload: Any, secret: str = EL_SECRET, at: float | None = None
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        t = str(int(time.time() if at is None else at))
        v0 = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
        return body, {"content-type": "application/json", "elevenlabs-signature": f"t={t},v0={v0}"}

    @staticmethod
    def call_status(**overrides: str) -> dict[str, str]:
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

    @staticmethod
    def sample(name: str) -> Any:
        return json.loads((SAMPLES / name).read_text())

    @staticmethod
    def long_vapi_report(call_id: str, body_bytes: int, transcript_share: float = 0.45) -> Any:
        """A Vapi end-of-call report of about ``body_bytes`` once JSON-encoded, shaped like a
        long call's: the transcript (``transcript_share`` of the body) and the turns again
        in ``artifact.messages``."""
        report = json.loads((SAMPLES / "vapi_end_of_call_report.json").read_text())
        report["message"]["call"]["id"] = call_id
        turn = "User: I would like to move my appointment to Thursday afternoon, please. "
        lines = [f"{'AI' if n % 2 else 'User'}: turn {n} {turn}" for n in range(40_000)]
        transcript = "\n".join(lines)[: int(body_bytes * transcript_share)]
        report["message"]["artifact"]["transcript"] = transcript
        messages: list[dict[str, Any]] = []
        room = body_bytes - len(json.dumps(report))
        for n in itertools.count():
            message = {"role": "user", "message": lines[n % len(lines)], "time": 1750263773123 + n}
            room -= len(json.dumps(message)) + 2
            if room < 0:
                break
            messages.append(message)
        report["message"]["artifact"]["messages"] = messages
        return report


@pytest.fixture
def sign() -> type[Sign]:
    return Sign


@pytest.fixture
def kafka() -> FakeKafka:
    return FakeKafka()


@pytest.fixture
def settings(tmp_path: Path) -> IngressSettings:
    return make_settings(tmp_path)


@pytest.fixture
def config() -> InMemoryConfig:
    """The control plane's view the app reads (change it in a test: live, as on Kafka)."""
    return make_config()


@pytest.fixture
def client(
    settings: IngressSettings, kafka: FakeKafka, config: InMemoryConfig
) -> Iterator[TestClient]:  # type: ignore[type-arg]
    with TestClient(app=create_app(settings, publisher=kafka, config=config)) as c:
        yield c


@pytest.fixture
def make_client(tmp_path: Path, kafka: FakeKafka, config: InMemoryConfig):
    """A client over settings with other HTTP options (limits, trusted proxies)."""

    def build(**http: Any) -> TestClient:  # type: ignore[type-arg]
        return TestClient(
            app=create_app(make_settings(tmp_path, **http), publisher=kafka, config=config)
        )

    return build


@pytest.fixture(scope="session")
def settings_for():
    """``settings_for(tmp_dir, **http)``: test settings for a longer-lived app."""
    return make_settings


@pytest.fixture(scope="session")
def config_for():
    """``config_for()``: a fresh view with the test accounts and channels."""
    return make_config


@pytest.fixture(scope="session")
def signer() -> type[Sign]:
    return Sign
