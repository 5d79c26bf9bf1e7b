"""The live voice counters exist at 0 before the first request (an ``increase() > 0`` alert
sees the first fallback or lost event, a dashboard shows 0 rather than no data)."""

from prometheus_client import REGISTRY

import switchboard.ingress.metrics  # noqa: F401 - the counters are registered on import


def test_every_voice_answer_outcome_and_loss_is_exported_before_any_request() -> None:
    for provider, request in (("vapi", "assistant-request"), ("elevenlabs", "server-tool")):
        for outcome in ("answered", "fallback_timeout", "fallback_error", "unowned"):
            labels = {"provider": provider, "request": request, "outcome": outcome}
            value = REGISTRY.get_sample_value("switchboard_ingress_voice_answers_total", labels)
            assert value is not None, labels
    for provider in ("vapi", "elevenlabs"):
        for reason in ("broker", "event_too_large"):
            labels = {"provider": provider, "reason": reason}
            value = REGISTRY.get_sample_value("switchboard_ingress_voice_events_lost_total", labels)
            assert value is not None, labels
