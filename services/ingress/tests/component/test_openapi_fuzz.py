"""Schemathesis over the ingress's own OpenAPI document: no generated request gets a 5xx,
and nothing unverified is published."""

import tempfile
from collections.abc import Sequence
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error

from switchboard.common.config import InMemoryConfig, TwilioAccount, WhatsAppAccount
from switchboard.common.events import KafkaRecord
from switchboard.ingress.app import create_app
from switchboard.ingress.settings import IngressSettings, SpoolSettings


class RecordingKafka:
    def __init__(self) -> None:
        self.published: list[tuple[str, KafkaRecord]] = []

    @property
    def connected(self) -> bool:
        return True

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None:
        self.published.extend(records)


KAFKA = RecordingKafka()
APP = create_app(
    IngressSettings(
        spool=SpoolSettings(directory=Path(tempfile.mkdtemp(prefix="fuzz-spool-"))),
        http={"rate_limit_per_second": 0},  # type: ignore[arg-type]
    ),
    publisher=KAFKA,
    config=InMemoryConfig(
        [
            TwilioAccount(id="AC" + "1" * 32, tenants=("x",), auth_tokens=(SecretStr("t" * 16),)),
            WhatsAppAccount(
                id="app",
                tenants=("x",),
                app_secrets=(SecretStr("s" * 16),),
                verify_tokens=(SecretStr("v" * 16),),
                waba_ids=("1",),
            ),
        ]
    ),
)
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_is_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
    assert KAFKA.published == []
