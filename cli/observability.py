"""CLI stage, observability options: ``--log-level``, ``--log-include-data``, ``--log-file``
for ``sm run`` and ``sm worker`` (AWS's LoggingConfiguration; statemachine/logs.py).

Only argparse at import; ``logging_config`` imports the library when a command runs. Each
option defaults to its variable (``SM_LOG_LEVEL``, ``SM_LOG_INCLUDE_DATA``, ``SM_LOG_FILE``);
the level is ALL when only the other options are given, and without any nothing is logged.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from opentelemetry.context import Context

    from statemachine.logs import LoggingConfiguration
    from statemachine.telemetry import Telemetry

LEVELS: Final = ("ALL", "ERROR", "FATAL", "OFF")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level", type=str.upper, choices=LEVELS, metavar="LEVEL",
        help="write the execution's events as JSON lines shaped like Step Functions' CloudWatch "
             "log events: ALL, ERROR (failures), FATAL (execution failures) or OFF "
             "(default: $SM_LOG_LEVEL, else ALL when --log-file or --log-include-data is "
             "given, else OFF)")
    parser.add_argument(
        "--log-include-data", action="store_true",
        help="keep input, output and task parameters in the log lines (AWS: includeExecutionData; "
             "default: $SM_LOG_INCLUDE_DATA)")
    parser.add_argument("--log-file", metavar="PATH",
                        help="append the log lines to PATH (default: $SM_LOG_FILE, else stderr, where "
                             "sm run then shows no live view)")


def add_telemetry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--telemetry", action="store_true",
        help="OpenTelemetry spans and metrics (the otel extra): through the global providers "
             "when run under opentelemetry-instrument (OTEL_* variables pick the exporters), "
             "else spans as JSON on stderr; joins the trace in $TRACEPARENT")


def telemetry_config(args: argparse.Namespace) -> Telemetry | None:
    """``--telemetry``: a Telemetry on the global providers, or on a console span exporter
    (stderr) when none is configured. ImportError without the otel extra."""
    if not getattr(args, "telemetry", False):
        return None
    import sys

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from statemachine.telemetry import Telemetry

    if isinstance(trace.get_tracer_provider(), TracerProvider):  # opentelemetry-instrument
        return Telemetry()
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    return Telemetry(tracer_provider=provider, metrics=False)


def install_telemetry(args: argparse.Namespace) -> bool:
    """``--telemetry`` for the durable paths (``sm worker``, ``sm run --db``): installed
    process-wide (``observe.install``); True when installed. ValueError without the otel
    extra."""
    try:
        config = telemetry_config(args)
    except ImportError:
        raise ValueError("--telemetry needs the otel extra: pip install 'statemachine-asl[otel]'") from None
    if config is None:
        return False
    from statemachine.observe import install

    install("telemetry", config)
    return True


@contextlib.contextmanager
def in_traceparent(traced: bool) -> Iterator[None]:
    """Inside the trace of ``$TRACEPARENT`` when ``traced`` and it is set (an execution
    started here stores it and joins that trace), else nothing changes."""
    parent = traceparent_context() if traced else None
    if parent is None:
        yield
        return
    from opentelemetry import context

    token = context.attach(parent)
    try:
        yield
    finally:
        context.detach(token)


def traceparent_context() -> Context | None:
    """The OpenTelemetry context of ``$TRACEPARENT`` / ``$TRACESTATE`` (W3C; the convention
    of CI systems and otel-cli for handing a trace to a child process), or None."""
    import os

    if not os.environ.get("TRACEPARENT"):
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": os.environ["TRACEPARENT"], "tracestate": os.environ.get("TRACESTATE", "")}
    return TraceContextTextMapPropagator().extract(carrier)


def logging_config(args: argparse.Namespace) -> LoggingConfiguration | None:
    """The LoggingConfiguration the options ask for (None: nothing to log); ValueError for a
    bad level or yes/no in the environment, or a log file that cannot be written."""
    from statemachine.logs import LoggingConfiguration

    level = getattr(args, "log_level", None)
    file = getattr(args, "log_file", None)
    include = bool(getattr(args, "log_include_data", False))
    env = LoggingConfiguration.from_environment()  # ValueError for a bad $SM_LOG_*
    config = env
    if level is not None or file is not None or include:  # each option wins over its variable
        config = LoggingConfiguration(
            level or (env.level if env is not None else "ALL"),
            include or (env is not None and env.include_execution_data),
            file if file is not None else (env.destination if env is not None else None))
    if config is not None and config.level != "OFF" and isinstance(config.destination, str):
        _check_writable(config.destination)
    return config


def _check_writable(path: str) -> None:
    """Open the log file now (and its folder), so a path that cannot be written is a
    one-line error before the run rather than a failure in its middle; ValueError."""
    from pathlib import Path

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot write the log file {path}: {exc.strerror or exc}") from None
