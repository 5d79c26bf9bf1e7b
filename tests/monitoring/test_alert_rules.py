"""Unit tests of every alert in deploy/monitoring/rules.yml, run by ``promtool test rules``.

One case per alert: series that must make it fire (with the labels it must carry), and a near
miss on which it must stay quiet, both evaluated at the same time. The promtool test file is
written from ``CASES`` (the expected annotations are the rule's own, which promtool compares
too). A new alert without a case fails ``test_every_alert_has_a_case``.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/monitoring/rules.yml"

Series = dict[str, str]  # series selector → promtool values ('0+10x30': 0, 10, 20, ...)


@dataclass(frozen=True)
class Case:
    fires: Series
    quiet: Series
    at: str
    labels: dict[str, str] = field(default_factory=dict)


WEBHOOK = '{route="/webhooks/twilio/voice/status"'
REJECTED = f'switchboard_ingress_webhooks_total{WEBHOOK},outcome="rejected_signature"}}'
PUBLISHED = f'switchboard_ingress_webhooks_total{WEBHOOK},outcome="published"}}'
LOST = 'switchboard_ingress_voice_events_lost_total{provider="elevenlabs",reason="broker"}'
UNDER_REPLICATED = (
    'kafka_topic_partition_under_replicated_partition{topic="call.events",partition="0"}'
)


def http(route: str, status: str) -> str:
    return f'switchboard_http_request_seconds_count{{route="{route}",status="{status}"}}'


def voice(provider: str, outcome: str) -> str:
    labels = f'provider="{provider}",request="assistant-request",outcome="{outcome}"'
    return f"switchboard_ingress_voice_answers_total{{{labels}}}"


def lag(group: str, topic: str, partition: int) -> str:
    labels = f'consumergroup="{group}",topic="{topic}",partition="{partition}"'
    return f"kafka_consumergroup_lag{{{labels}}}"


CASES: dict[str, Case] = {
    "SwitchboardWebhookRejectionsSpike": Case(
        fires={PUBLISHED: "0+100x30", REJECTED: "0+10x30"},
        quiet={PUBLISHED: "0+100x30", REJECTED: "0+4x30"},
        at="20m",
    ),
    "SwitchboardIngressSpoolBacklog": Case(
        fires={"switchboard_ingress_spool_depth": "1500x20"},
        quiet={"switchboard_ingress_spool_depth": "900x20"},
        at="10m",
    ),
    "SwitchboardIngressSpoolStale": Case(
        fires={"switchboard_ingress_spool_oldest_age_seconds": "400x20"},
        quiet={"switchboard_ingress_spool_oldest_age_seconds": "200x20"},
        at="10m",
    ),
    "SwitchboardIngressSpoolDeadLetters": Case(
        fires={"switchboard_ingress_spool_dead_letters": "0 0 1 1"},
        quiet={"switchboard_ingress_spool_dead_letters": "0x10"},
        at="3m",
    ),
    "SwitchboardWebhookServerErrors": Case(
        fires={http("/webhooks/vapi", "503"): "0+5x30", http("/webhooks/vapi", "204"): "0+100x30"},
        quiet={
            # Under 1%, and a 5xx of an API route is not a webhook's.
            http("/webhooks/vapi", "503"): "0+0.5x30",
            http("/webhooks/vapi", "204"): "0+100x30",
            http("/v1/calls", "500"): "0+50x30",
        },
        at="15m",
    ),
    "SwitchboardVoiceFallbacks": Case(
        fires={
            voice("vapi", "answered"): "0+90x30",
            voice("vapi", "fallback_timeout"): "0+8x30",
            voice("vapi", "fallback_error"): "0+2x30",
        },
        quiet={
            # Under 5% fallbacks, and unowned calls (configuration) are no outage.
            voice("vapi", "answered"): "0+90x30",
            voice("vapi", "fallback_timeout"): "0+4x30",
            voice("vapi", "unowned"): "0+50x30",
        },
        at="15m",
        labels={"provider": "vapi"},
    ),
    "SwitchboardVoiceEventsLost": Case(
        # One exchange lost 2 minutes ago fires; one lost 24 minutes ago is past the window.
        fires={LOST: "0x22 1x5"},
        quiet={LOST: "0 1x30"},
        at="25m",
        labels={"provider": "elevenlabs"},
    ),
    "SwitchboardConsumerLagHigh": Case(
        fires={
            lag("history", "call.events", 0): "6000x30",
            lag("history", "call.events", 1): "5000x30",
        },
        quiet={
            lag("history", "call.events", 0): "4000x30",
            lag("ai", "message.inbound", 1): "7000x30",
        },
        at="15m",
        labels={"consumergroup": "history"},
    ),
    "SwitchboardConsumerLagGrowing": Case(
        fires={lag("dialer", "call.events", 0): "1000+100x60"},
        quiet={lag("dialer", "call.events", 0): "5000x60"},
        at="40m",
        labels={"consumergroup": "dialer"},
    ),
    "SwitchboardDeadLetters": Case(
        fires={'switchboard_dlq_messages_total{topic="call.events",group="history"}': "0x18 1x5"},
        # Dead-lettered once, long before the window.
        quiet={'switchboard_dlq_messages_total{topic="call.events",group="history"}': "0 1x40"},
        at="20m",
        labels={"topic": "call.events"},
    ),
    "SwitchboardConsumerStalled": Case(
        fires={'switchboard_consumer_stalled{group="history"}': "1x10"},
        # Stalled now and then, never for 5 minutes on end.
        quiet={'switchboard_consumer_stalled{group="history"}': "0 1 0 1 0 1 0 1 0 1"},
        at="9m",
        labels={"group": "history"},
    ),
    "SwitchboardHistoryMaintenanceFailing": Case(
        # The last success at time 0; promtool's time() is the evaluation time.
        fires={"switchboard_history_maintenance_last_success_timestamp_seconds": "0x300"},
        quiet={"switchboard_history_maintenance_last_success_timestamp_seconds": "0+60x300"},
        at="4h",
    ),
    "SwitchboardWhatsAppSendNotAuthorized": Case(
        fires={'switchboard_ai_send_not_authorized_total{code="190"}': "0x18 1x5"},
        quiet={'switchboard_ai_send_not_authorized_total{code="190"}': "0 1x40"},
        at="20m",
        labels={"code": "190"},
    ),
    "SwitchboardWhatsAppPartsNotPublished": Case(
        fires={"switchboard_ingress_whatsapp_skipped_total": "0x18 1x5"},
        quiet={"switchboard_ingress_whatsapp_skipped_total": "0 1x40"},
        at="20m",
    ),
    "SwitchboardKafkaUnderReplicated": Case(
        fires={UNDER_REPLICATED: "1x20"},
        quiet={UNDER_REPLICATED: "0x20"},
        at="15m",
    ),
    "SwitchboardTargetDown": Case(
        fires={'up{job="switchboard",instance="127.0.0.1:8001",service="history"}': "0x10"},
        quiet={
            'up{job="switchboard",instance="127.0.0.1:8001",service="history"}': "1x10",
            'up{job="someone-else",instance="127.0.0.1:9100"}': "0x10",
        },
        at="6m",
        labels={"job": "switchboard", "instance": "127.0.0.1:8001", "service": "history"},
    ),
    "SwitchboardHistoryWriteFailures": Case(
        fires={
            'switchboard_consumer_retries_total{group="history",topic="call.events"}': "0+60x30"
        },
        quiet={
            'switchboard_consumer_retries_total{group="history",topic="call.events"}': "0+12x30",
            'switchboard_consumer_retries_total{group="ai",topic="message.inbound"}': "0+600x30",
        },
        at="15m",
    ),
    "SwitchboardDialerPlacementErrors": Case(
        fires={
            'switchboard_dialer_place_errors_total{kind="refused"}': "0+20x30",
            'switchboard_dialer_calls_placed_total{campaign="c1"}': "0+100x30",
        },
        quiet={
            'switchboard_dialer_place_errors_total{kind="refused"}': "0+5x30",
            'switchboard_dialer_calls_placed_total{campaign="c1"}': "0+100x30",
        },
        at="15m",
    ),
    "SwitchboardLoopRestarts": Case(
        fires={'switchboard_loop_restarts_total{service="dialer",loop="dial"}': "0x18 1x5"},
        quiet={'switchboard_loop_restarts_total{service="dialer",loop="dial"}': "0 1x40"},
        at="20m",
        labels={"service": "dialer", "loop": "dial"},
    ),
    "SwitchboardDialerDependencyOutage": Case(
        fires={'switchboard_dialer_outage_retries_total{loop="dial"}': "0+60x20"},
        quiet={'switchboard_dialer_outage_retries_total{loop="dial"}': "0+3x20"},
        at="12m",
        labels={"loop": "dial"},
    ),
    "SwitchboardDialerRecoveryLookupsFailing": Case(
        fires={'switchboard_dialer_claims_recovered_total{result="lookup_failed"}': "0+1x40"},
        quiet={'switchboard_dialer_claims_recovered_total{result="placed"}': "0+1x40"},
        at="30m",
    ),
    "SwitchboardAiModelFailures": Case(
        fires={'switchboard_ai_model_failures_total{reason="error"}': "0+60x30"},
        quiet={'switchboard_ai_model_failures_total{reason="error"}': "0+3x30"},
        at="15m",
    ),
    "SwitchboardDialerAtConcurrencyCap": Case(
        fires={'switchboard_dialer_place_errors_total{kind="capacity"}': "0+1x40"},
        quiet={'switchboard_dialer_place_errors_total{kind="throttled"}': "0+1x40"},
        at="25m",
    ),
    "SwitchboardAiBreakerOpen": Case(
        fires={"switchboard_ai_breaker_open": "1x10"},
        # Open for a moment at a time: the breaker works.
        quiet={"switchboard_ai_breaker_open": "0 1 0 0 1 0 0 1 0 0"},
        at="9m",
    ),
    "SwitchboardAiSpendLimitReached": Case(
        fires={'switchboard_ai_limited_total{limit="spend",action="fallback"}': "0+1x30"},
        quiet={'switchboard_ai_limited_total{limit="rate",action="fallback"}': "0+1x30"},
        at="20m",
    ),
    "SwitchboardReconcilerBacklog": Case(
        fires={"switchboard_history_reconcile_backlog": "60x50"},
        quiet={"switchboard_history_reconcile_backlog": "40x50"},
        at="35m",
    ),
    "SwitchboardAiSpendNearLimit": Case(
        fires={'switchboard_ai_spend_limit_ratio{business="b1"}': "0.95x10"},
        quiet={'switchboard_ai_spend_limit_ratio{business="b1"}': "0.85x10"},
        at="6m",
        labels={"business": "b1"},
    ),
    "SwitchboardDialerBelowTargetPace": Case(
        fires={
            'switchboard_dialer_target_cps{campaign="c1"}': "5x40",
            'switchboard_dialer_calls_placed_total{campaign="c1"}': "0+60x40",
        },
        quiet={
            'switchboard_dialer_target_cps{campaign="c1"}': "5x40",
            'switchboard_dialer_calls_placed_total{campaign="c1"}': "0+290x40",
        },
        at="30m",
        labels={"campaign": "c1"},
    ),
}


def alert_rules() -> dict[str, dict[str, Any]]:
    rules = yaml.safe_load(RULES.read_text())
    return {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: bash scripts/infra/infra.sh install prometheus"
    return path


def unit_test_file(name: str, case: Case) -> dict[str, Any]:
    rule = alert_rules()[name]

    def series(values: Series) -> list[dict[str, str]]:
        return [{"series": s, "values": v} for s, v in values.items()]

    labels = {**rule.get("labels", {}), **case.labels}
    # Annotations are templates: {{ $labels.x }} is the alert's label.
    annotations = {
        key: re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], value)
        for key, value in rule.get("annotations", {}).items()
    }
    expected = {"exp_labels": labels, "exp_annotations": annotations}
    return {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": f"{name} fires",
                "interval": "1m",
                "input_series": series(case.fires),
                "alert_rule_test": [
                    {"eval_time": case.at, "alertname": name, "exp_alerts": [expected]}
                ],
            },
            {
                "name": f"{name} stays quiet",
                "interval": "1m",
                "input_series": series(case.quiet),
                "alert_rule_test": [{"eval_time": case.at, "alertname": name, "exp_alerts": []}],
            },
        ],
    }


def run_promtool(tmp_path: Path, name: str, case: Case) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{name}.test.yml"
    path.write_text(yaml.safe_dump(unit_test_file(name, case), sort_keys=False))
    return subprocess.run(
        [promtool(), "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_checks_the_rules_file() -> None:
    done = subprocess.run(
        [promtool(), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_every_alert_has_a_case() -> None:
    assert set(CASES) == set(alert_rules())


@pytest.mark.parametrize("name", sorted(CASES))
def test_alert_fires_on_its_series_and_not_on_a_near_miss(tmp_path: Path, name: str) -> None:
    done = run_promtool(tmp_path, name, CASES[name])
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The harness can fail: the firing series as the near miss, and the reverse."""
    case = CASES["SwitchboardIngressSpoolBacklog"]
    swapped = Case(fires=case.quiet, quiet=case.fires, at=case.at)
    done = run_promtool(tmp_path, "SwitchboardIngressSpoolBacklog", swapped)
    assert done.returncode != 0
    assert "FAILED" in done.stdout + done.stderr
