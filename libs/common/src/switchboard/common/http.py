"""Health, readiness and metrics routes every service mounts.

``/health`` says the process is alive; ``/ready`` runs the service's checks (broker connected,
database reachable) and answers 503 naming the failing ones, so an orchestrator stops routing.
A failing *degraded* check keeps 200 but reports ``degraded`` (e.g. the ingress spooling while
Kafka is away: it still accepts webhooks durably).
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

ReadinessCheck = Callable[[], Awaitable[bool]]
CHECK_TIMEOUT_S = 2.0


async def _run_check(check: ReadinessCheck) -> bool:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            return await check()
    except Exception:  # noqa: BLE001 - a failing check means "not ready", whatever it raised
        return False


def health_routes(
    checks: Mapping[str, ReadinessCheck],
    registry: CollectorRegistry = REGISTRY,
    *,
    degraded_checks: Mapping[str, ReadinessCheck] | None = None,
) -> list[HTTPRouteHandler]:
    """``/health``, ``/ready`` and ``/metrics`` handlers for ``checks``."""
    soft = dict(degraded_checks or {})
    everything = {**checks, **soft}

    @get("/health", include_in_schema=False, sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", include_in_schema=False)
    async def ready() -> Response[dict[str, Any]]:
        outcomes = await asyncio.gather(*(_run_check(c) for c in everything.values()))
        results = dict(zip(everything, outcomes, strict=True))
        ok = all(results[name] for name in checks)
        status = "not ready" if not ok else "ready" if all(results.values()) else "degraded"
        return Response(
            {"status": status, "checks": results},
            status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
        )

    @get("/metrics", include_in_schema=False, sync_to_thread=False)
    def metrics() -> Response[bytes]:
        # As a header: Litestar appends "; charset=utf-8" to a text/ media type, and
        # CONTENT_TYPE_LATEST carries one already.
        return Response(generate_latest(registry), headers={"content-type": CONTENT_TYPE_LATEST})

    return [health, ready, metrics]
