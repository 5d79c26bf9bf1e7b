"""docs/operations/tracing.md, checked: the real ingress exports its webhook span over OTLP/HTTP,
continuing the caller's ``traceparent``, the Kafka record carries that trace on, and the real
dialer worker (a ``common.kafka.BatchProcessor`` consumer of ``call.events``) exports a
``CONSUMER`` span of the same trace, child of the ingress span.

A small OTLP/HTTP receiver (protobuf ``ExportTraceServiceRequest``) stands in for the collector.
"""

import asyncio
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from aiokafka import ConsumerRecord
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from pydantic import SecretStr

from switchboard.common.config import Channel, TwilioAccount
from switchboard.common.migrations import drop_database
from switchboard.common.settings import KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    end_offsets,
    eventually,
    fresh_group,
    read_records,
    seeded_config_env,
    twilio_signature,
    unique,
)
from switchboard.common.topics import (
    CALL_EVENTS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
)

pytestmark = pytest.mark.integration
HISTORY_TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)

ACCOUNT = "AC" + uuid.uuid4().hex
TOKEN = "trace-" + uuid.uuid4().hex
PATH = "/webhooks/twilio/voice/status"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
CONSUMER_KIND = 5  # Span.SPAN_KIND_CONSUMER


class Receiver(ThreadingHTTPServer):
    spans: list[dict[str, Any]]


class OtlpHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.server.spans.append(
                        {
                            "service": resource.get("service.name"),
                            "name": span.name,
                            "kind": span.kind,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": {a.key: a.value for a in span.attributes},
                        }
                    )
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


async def call_event(
    kafka_settings: KafkaSettings, start: Mapping[int, int], call_sid: str
) -> "ConsumerRecord[bytes, bytes]":
    """The one ``call.events`` record of ``call_sid`` published since ``start``."""
    key = call_sid.encode()
    records = await read_records(
        kafka_settings, CALL_EVENTS, start, until=lambda rs: any(r.key == key for r in rs)
    )
    (record,) = [r for r in records if r.key == key]
    return record


async def post(url: str, params: dict[str, str], extra: dict[str, str]) -> httpx.Response:
    """A Twilio-signed form POST, as Twilio sends a status callback."""
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(url, params, TOKEN),
        **extra,
    }
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(url, content=urlencode(params).encode(), headers=headers)


@pytest.fixture
async def dialer_db(pg_settings: PostgresSettings) -> AsyncIterator[str]:
    name = unique("trace_dialer")
    yield name
    await asyncio.to_thread(drop_database, pg_settings, name)


@pytest.fixture
async def history_db(pg_settings: PostgresSettings) -> AsyncIterator[str]:
    name = unique("trace_history")
    yield name
    await asyncio.to_thread(drop_database, pg_settings, name)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), OtlpHandler)
    server.spans = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_webhook_trace_goes_from_the_ingress_through_kafka_into_the_consumers(
    receiver: Receiver,
    start_service: Any,
    kafka_settings: KafkaSettings,
    dialer_db: str,
    history_db: str,
    tmp_path: Any,
) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/v1/traces"
    telemetry = {
        "SWITCHBOARD_TELEMETRY__OTLP_ENDPOINT": endpoint,
        "SWITCHBOARD_TELEMETRY__SAMPLE_RATIO": "0.0",  # only a sampled parent is recorded
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # export batches every 0.2 s, not 5 s
    }
    # The account and the number, as the control plane publishes them: the ingress verifies
    # with them, the dialer and history's reconciler follow the same topic.
    config = await asyncio.to_thread(
        seeded_config_env,
        kafka_settings,
        [
            TwilioAccount(id=ACCOUNT, tenants=("trace-tenant",), auth_tokens=(SecretStr(TOKEN),)),
            Channel(kind="phone", id="+15005550006", tenant="trace-tenant", account_id=ACCOUNT),
        ],
    )
    group = await fresh_group(kafka_settings, "trace-dialer", (CALL_EVENTS, MESSAGE_INBOUND))
    dialer = start_service(
        "dialer-worker",
        ["switchboard.dialer", "worker"],
        {
            **telemetry,
            **config,
            "SWITCHBOARD_DATABASE": dialer_db,
            "SWITCHBOARD_CONSUMER__GROUP_ID": group,
            "SWITCHBOARD_CONSUMER__COMMANDS_GROUP_PREFIX": unique("trace-dialer-commands"),
            "SWITCHBOARD_REDIS_PREFIX": unique("trace-dialer"),
        },
    )
    history_group = await fresh_group(kafka_settings, "trace-history", HISTORY_TOPICS)
    history = start_service(
        "history-worker",
        ["switchboard.history", "worker"],
        {
            **telemetry,
            **config,
            "SWITCHBOARD_DATABASE": history_db,
            "SWITCHBOARD_CONSUMER__GROUP_ID": history_group,
        },
    )
    ingress = start_service(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            **telemetry,
            **config,
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path / "spool"),
        },
    )
    dialer.wait_ready("/health")
    history.wait_ready("/health")
    ingress.wait_ready()
    start = await end_offsets(kafka_settings, CALL_EVENTS)

    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    call_sid = "CA" + uuid.uuid4().hex
    url = ingress.url + PATH
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": call_sid,
        "CallStatus": "ringing",
        "SequenceNumber": "0",
        "From": "+15005550006",
        "To": "+14155550100",
        "Direction": "outbound-api",
    }
    response = await post(
        url,
        params,
        {"traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    assert response.status_code == 204

    def exported(service: str) -> list[dict[str, Any]]:
        return [s for s in receiver.spans if s["trace_id"] == trace_id and s["service"] == service]

    await eventually(lambda: exported("switchboard-ingress"), timeout_s=60)
    (span,) = exported("switchboard-ingress")
    assert span["service"] == "switchboard-ingress"
    assert span["name"] == f"POST {PATH}"
    assert span["kind"] == SERVER_KIND
    assert span["parent_span_id"] == parent_id
    assert span["attributes"]["http.response.status_code"].int_value == 204

    record = await call_event(kafka_settings, start, call_sid)
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["traceparent"] == f"00-{trace_id}-{span['span_id']}-01"

    # The dialer worker read that record in a batch and continued the trace under the ingress
    # span: one CONSUMER span per record, named after the topic, with its Kafka coordinates.
    await eventually(lambda: exported("switchboard-dialer"), timeout_s=90)
    (consumed,) = exported("switchboard-dialer")
    assert consumed["kind"] == CONSUMER_KIND
    assert consumed["name"] == f"process {CALL_EVENTS}"
    assert consumed["parent_span_id"] == span["span_id"]
    attributes = consumed["attributes"]
    assert attributes["messaging.system"].string_value == "kafka"
    assert attributes["messaging.destination.name"].string_value == CALL_EVENTS
    assert attributes["messaging.kafka.consumer.group"].string_value == group
    assert attributes["messaging.destination.partition.id"].string_value == str(record.partition)
    assert attributes["messaging.kafka.offset"].int_value == record.offset
    assert attributes["messaging.kafka.message.key"].string_value == call_sid

    # History's worker (the same common BatchProcessor) continued it too, in its own group.
    await eventually(lambda: exported("switchboard-history"), timeout_s=90)
    (stored,) = exported("switchboard-history")
    assert stored["kind"] == CONSUMER_KIND
    assert stored["name"] == f"process {CALL_EVENTS}"
    assert stored["parent_span_id"] == span["span_id"]
    assert stored["attributes"]["messaging.kafka.consumer.group"].string_value == history_group
    assert stored["attributes"]["messaging.kafka.offset"].int_value == record.offset

    # A webhook without a traceparent at sample ratio 0: its trace id still travels in Kafka
    # (sampled flag off), but no span is exported.
    other_sid = "CA" + uuid.uuid4().hex
    params = {**params, "CallSid": other_sid}
    response = await post(url, params, {})
    assert response.status_code == 204
    record = await call_event(kafka_settings, start, other_sid)
    unsampled = dict(record.headers)["traceparent"].decode()
    version, other_trace, _, flags = unsampled.split("-")
    assert version == "00"
    assert int(flags, 16) & 0x01 == 0  # not sampled (the SDK may set 0x02, "random trace id")
    assert other_trace != trace_id
    assert not [s for s in receiver.spans if s["trace_id"] == other_trace]
