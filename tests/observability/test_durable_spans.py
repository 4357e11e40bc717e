"""Spans of a durable execution (statemachine.telemetry, "Durable executions"): it parks on
a Wait, resumes in a new Worker on another store connection, and its span tree is emitted
once, when it ends, with ids that match the ``traceparent`` its HTTP tasks received mid-run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from statemachine.clock import VirtualClock
from statemachine.durable.worker import Worker
from statemachine.service import Service
from tests.observability.conftest import Otel

HTTP = "arn:aws:states:::http:invoke"


def definition(url: str) -> dict[str, Any]:
    return {"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": HTTP, "ResultPath": "$.first",
                 "ResultSelector": {"status.$": "$.StatusCode"},
                 "Parameters": {"ApiEndpoint": f"{url}/json", "Method": "GET"}, "Next": "Pause"},
        "Pause": {"Type": "Wait", "Seconds": 3600, "Next": "Again"},  # past park_after: parks
        "Again": {"Type": "Task", "Resource": HTTP, "ResultPath": "$.second",
                  "ResultSelector": {"status.$": "$.StatusCode"},
                  "Parameters": {"ApiEndpoint": f"{url}/status/200", "Method": "GET"},
                  "End": True}}}


def traceparent(span: Any) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags) & 1:02x}"


def run_worker(worker: Worker, done: Callable[[], bool]) -> None:
    asyncio.run(asyncio.wait_for(worker.run(until=done), 60))  # a bound, not a measurement


def test_parked_and_resumed_execution_yields_one_span_tree(otel: Otel, http_server: Any,
                                                           tmp_path: Path) -> None:
    db = str(tmp_path / "executions.db")
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(definition(http_server.url)))
    clock = VirtualClock()
    service = Service(db, clock=clock)
    arn = service.start(flow, {}, machine_name="Orders")["executionArn"]

    first = Worker(service.store, poll=0.05, clock=clock, log=lambda _: None,
                   observability=[otel.telemetry()])
    run_worker(first, lambda: not first._active and any(
        t.kind == "wait" for t in service.store.timers(arn)))
    assert service.describe(arn)["status"] == "RUNNING"
    assert otel.spans() == []  # nothing emitted before the execution ends
    assert [r["path"] for r in http_server.requests] == ["/json"]

    second = Worker(Service(db, clock=clock).store, poll=0.05, clock=clock, log=lambda _: None,
                    observability=[otel.telemetry()])
    run_worker(second, lambda: arn in second.finished)
    assert service.describe(arn)["status"] == "SUCCEEDED"

    spans = otel.spans()
    [root] = [s for s in spans if s.parent is None]
    assert root.name == "Orders"
    assert root.attributes["statemachine.execution.arn"] == arn
    assert root.attributes["statemachine.execution.status"] == "SUCCEEDED"
    assert {s.context.trace_id for s in spans} == {root.context.trace_id}
    assert len({s.context.span_id for s in spans}) == len(spans)
    by_id = {s.context.span_id: s for s in spans}
    states = sorted((s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id),
                    key=lambda s: s.start_time)
    assert [(s.name, s.attributes["statemachine.state.type"]) for s in states] == [
        ("Call", "Task"), ("Pause", "Wait"), ("Again", "Task")]
    tasks = [s for s in spans if "statemachine.task.attempt" in s.attributes]
    assert sorted(by_id[t.parent.span_id].name for t in tasks) == ["Again", "Call"]
    # AWS splits the ARN in TaskScheduled: resourceType "http", resource "invoke"
    assert {(t.attributes["statemachine.task.resource_type"], t.attributes["statemachine.task.resource"])
            for t in tasks} == {("http", "invoke")}

    # times are the history's: the Wait span lasts its virtual hour, spans nest in time
    history = {e["type"] + "/" + e.get("stateEnteredEventDetails", e.get("stateExitedEventDetails", {})).get(
        "name", ""): e["timestamp"] for e in service.history(arn)}
    pause = states[1]
    assert (pause.end_time - pause.start_time) / 1e9 >= 3600
    entered = history["WaitStateEntered/Pause"] - datetime(1970, 1, 1, tzinfo=UTC)
    assert pause.start_time == entered // timedelta(microseconds=1) * 1000  # exact, in ns
    for span in spans:
        assert span.start_time <= span.end_time
        if span.parent is not None:
            parent = by_id[span.parent.span_id]
            assert parent.start_time <= span.start_time and span.end_time <= parent.end_time

    # each HTTP task got, mid-run (one before the park, one after), its own span's context
    seen = {r["path"]: r["headers"]["traceparent"] for r in http_server.requests}
    attempts = {by_id[t.parent.span_id].name: t for t in tasks}
    assert seen["/json"] == traceparent(attempts["Call"])
    assert seen["/status/200"] == traceparent(attempts["Again"])


def test_retry_across_a_park_and_catch_keep_their_span_events(otel: Otel, http_server: Any,
                                                              tmp_path: Path) -> None:
    # the retry's backoff (an hour) parks the execution: the resumed run replays the first
    # attempt and its retry decision, which must appear once in the spans and the metrics
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"StartAt": "Call", "States": {
        "Call": {"Type": "Task", "Resource": HTTP,
                 "Parameters": {"ApiEndpoint": f"{http_server.url}/status/503", "Method": "GET"},
                 "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 3600, "MaxAttempts": 1}],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Recover"}],
                 "End": True},
        "Recover": {"Type": "Pass", "End": True}}}))
    clock = VirtualClock()
    service = Service(str(tmp_path / "executions.db"), clock=clock)
    arn = service.start(flow, {}, machine_name="Flaky")["executionArn"]
    worker = Worker(service.store, poll=0.05, clock=clock, log=lambda _: None,
                    observability=[otel.telemetry()])
    run_worker(worker, lambda: not worker._active and any(
        t.kind == "wait" for t in service.store.timers(arn)))
    assert len(http_server.requests) == 1 and otel.spans() == []  # parked in the backoff
    run_worker(worker, lambda: arn in worker.finished)
    assert service.describe(arn)["status"] == "SUCCEEDED"
    assert len(http_server.requests) == 2

    spans = otel.spans()
    [root] = [s for s in spans if s.parent is None]
    by_name: dict[str, list[Any]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    [call] = by_name["Call"]
    assert [e.name for e in call.events] == ["retry", "catch"]
    assert call.events[0].attributes["statemachine.retry.attempt"] == 1
    assert call.events[0].attributes["statemachine.retry.delay"] == 3600
    assert call.events[1].attributes["statemachine.error"] == "States.Http.StatusCode.503"
    attempts = sorted((s for s in spans if "statemachine.task.attempt" in s.attributes),
                      key=lambda s: s.attributes["statemachine.task.attempt"])
    assert [a.attributes["statemachine.task.attempt"] for a in attempts] == [1, 2]
    assert all(a.parent.span_id == call.context.span_id for a in attempts)
    assert all(a.attributes["statemachine.error"] == "States.Http.StatusCode.503" for a in attempts)
    assert (attempts[1].start_time - attempts[0].end_time) / 1e9 >= 3600  # the virtual backoff
    [recover] = by_name["Recover"]
    assert recover.parent.span_id == root.context.span_id
    assert otel.total("statemachine.retries") == 1
    assert otel.total("statemachine.executions.succeeded") == 1
    assert otel.total("statemachine.executions.started") == 1


def test_execution_started_inside_a_span_joins_its_trace(otel: Otel, http_server: Any,
                                                         tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(definition(http_server.url)))
    clock = VirtualClock()
    service = Service(str(tmp_path / "executions.db"), clock=clock)
    tracer = otel.tracer_provider.get_tracer("caller")
    with tracer.start_as_current_span("request") as request:
        arn = service.start(flow, {}, machine_name="Orders")["executionArn"]
    worker = Worker(Service(str(tmp_path / "executions.db"), clock=clock).store, poll=0.05,
                    clock=clock, log=lambda _: None, observability=[otel.telemetry()])
    run_worker(worker, lambda: arn in worker.finished)
    assert service.describe(arn)["status"] == "SUCCEEDED"

    spans = otel.spans()
    [root] = [s for s in spans if s.name == "Orders"]
    assert root.parent is not None and root.parent.span_id == request.get_span_context().span_id
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in spans} == {trace_id}
    assert len(spans) == 1 + 1 + 3 + 2  # request, execution, three states, two task attempts
    received = [r["headers"]["traceparent"] for r in http_server.requests]
    assert len(received) == 2 and all(t.split("-")[1] == f"{trace_id:032x}" for t in received)
    # the stored context is the engine's: GetExecutionHistory shows AWS's fields only
    [started] = [e for e in service.history(arn) if e["type"] == "ExecutionStarted"]
    assert set(started) == {"id", "previousEventId", "timestamp", "type", "executionStartedEventDetails"}


def test_sm_run_db_and_sm_worker_telemetry(tmp_path: Path) -> None:
    """``sm run --db --telemetry`` joins $TRACEPARENT (stored with the execution); ``sm start``
    then ``sm worker --telemetry`` gives a trace of the execution's own; both print their
    spans as JSON on stderr."""
    import os
    import subprocess
    import sys

    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}))
    db = str(tmp_path / "x.db")

    def sm(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "statemachine.cli", *args], capture_output=True,
                              text=True, timeout=120, check=False, env={**os.environ, **env})

    def spans_of(stderr: str) -> list[dict[str, Any]]:
        text = stderr[stderr.index("\n{") + 1:stderr.rindex("\n}") + 2]  # between sm's own lines
        found: list[dict[str, Any]] = json.loads("[" + text.replace("}\n{", "},\n{") + "]")
        return found

    trace_id, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    ran = sm("run", str(flow), "--db", db, "--telemetry", "--input", "{}",
             TRACEPARENT=f"00-{trace_id}-{parent}-01")
    assert ran.returncode == 0, ran.stderr
    spans = spans_of(ran.stderr)
    by_name = {span["name"]: span for span in spans}
    assert set(by_name) == {"flow", "Only"}
    assert {span["context"]["trace_id"] for span in spans} == {f"0x{trace_id}"}
    assert by_name["flow"]["parent_id"] == f"0x{parent}"
    assert by_name["Only"]["parent_id"] == by_name["flow"]["context"]["span_id"]

    started = sm("start", str(flow), "--db", db, "--input", "{}")
    assert started.returncode == 0, started.stderr
    worked = sm("worker", "--db", db, "--until-idle", "--telemetry")
    assert worked.returncode == 0, worked.stderr
    spans = spans_of(worked.stderr)
    assert [span["name"] for span in spans] == ["flow", "Only"]
    assert spans[0]["parent_id"] is None
    assert spans[1]["parent_id"] == spans[0]["context"]["span_id"]
    assert spans[0]["context"]["trace_id"] not in (f"0x{trace_id}", by_name["flow"]["context"]["trace_id"])
