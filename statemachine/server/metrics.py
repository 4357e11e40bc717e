"""Server stage, the metrics route: ``GET /metrics`` in Prometheus's text format.

In: the OpenTelemetry metrics of every execution this process runs (statemachine.telemetry:
executions started/succeeded/failed/timed out/aborted, state and task durations, retries,
open callbacks), plus prometheus_client's process and Python collectors. Out: the exposition
text (``text/plain; version=0.0.4``, or OpenMetrics when the scraper asks) Prometheus scrapes. Behind the server's access
token like every route (Prometheus sends it with ``authorization: {credentials: TOKEN}``).

The metrics go through the OpenTelemetry SDK to its Prometheus exporter
(``PrometheusMetricReader``), which registers with prometheus_client's default registry: one
meter provider per process (Prometheus scrapes processes), made when the first app is built
and installed for the process's durable executions (``observe.install``). Needs the ``otel``
extra; without it the route answers 501 saying so. Why this and not our own registry:
docs/ARCHITECTURE.md, "Observability".
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from statemachine.server.config import ServerConfig

__all__ = ["meter_provider", "routes"]

_PROVIDER: list[Any] = []
_LOCK = threading.Lock()
MISSING_EXTRA = ("/metrics needs the otel extra: pip install 'statemachine-asl[otel]' "
                 "(opentelemetry-sdk, opentelemetry-exporter-prometheus, prometheus-client)\n")


def meter_provider() -> Any:
    """The process's meter provider feeding /metrics (made on first use); ImportError when
    the otel extra is not installed."""
    with _LOCK:
        if not _PROVIDER:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from opentelemetry.sdk.metrics import MeterProvider

            _PROVIDER.append(MeterProvider(metric_readers=[PrometheusMetricReader()]))
        return _PROVIDER[0]


def routes(config: ServerConfig) -> list[BaseRoute]:
    """``GET /metrics``; installs the metrics of durable executions for this process."""
    from starlette.routing import Route

    try:
        provider = meter_provider()
    except ImportError:
        provider = None
    if provider is not None:
        from statemachine.observe import install
        from statemachine.telemetry import Telemetry

        install("metrics", Telemetry(meter_provider=provider, traces=False))
    return [Route("/metrics", endpoint, methods=["GET"], name="metrics")]


def endpoint(request: Request) -> Response:
    """The exposition of prometheus_client's default registry in the format the scraper's
    ``Accept`` asks for (prometheus_client's own negotiation: the text format 0.0.4 by default,
    OpenMetrics when asked). A plain ``def``: Starlette runs it on a thread."""
    from starlette.responses import Response

    try:
        from prometheus_client import REGISTRY
        from prometheus_client.exposition import choose_encoder
    except ImportError:
        return Response(MISSING_EXTRA, 501, media_type="text/plain")
    if not _PROVIDER:
        return Response(MISSING_EXTRA, 501, media_type="text/plain")
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), 200, headers={"Content-Type": content_type})
