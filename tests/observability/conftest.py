"""Fixtures for the observability tests: the OpenTelemetry SDK's in-memory exporters (a
fresh tracer and meter provider per test) and a loopback HTTP server that records requests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.servers import http_test_server, url_of

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed (pip install -e '.[otel]')")


class Otel:
    """A tracer provider whose spans land in memory, a meter provider read on demand."""

    def __init__(self) -> None:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def telemetry(self) -> Any:
        from statemachine.telemetry import Telemetry

        return Telemetry(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider)

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, point) of every data point of metric ``name`` (empty when none)."""
        data = self.reader.get_metrics_data()
        found: list[tuple[dict[str, Any], Any]] = []
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend((dict(p.attributes), p) for p in metric.data.data_points)
        return found

    def total(self, name: str, **attributes: Any) -> float:
        """Sum of a counter's points whose attributes include ``attributes``."""
        return sum(p.value for attrs, p in self.points(name)
                   if all(attrs.get(k) == v for k, v in attributes.items()))


@pytest.fixture
def otel() -> Iterator[Otel]:
    found = Otel()
    yield found
    found.tracer_provider.shutdown()
    found.meter_provider.shutdown()


@pytest.fixture
def http_server() -> Iterator[Any]:
    with http_test_server() as server:
        server.url = url_of(server)
        yield server
